-- psql's \d NAME and \d+ NAME (and \du, \dT, \dp) over tables with a vector column, an
-- HNSW index, unique indexes and constraints, foreign keys both ways,
-- CHECKs, defaults, serial, identity and generated columns and an enum.
CREATE EXTENSION IF NOT EXISTS vector;
CREATE SCHEMA shop;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE authors (id serial PRIMARY KEY, name text NOT NULL UNIQUE, feel mood);
CREATE TABLE items (id bigint PRIMARY KEY, author_id int REFERENCES authors(id) ON DELETE CASCADE, title varchar(200) NOT NULL DEFAULT 'untitled', price numeric(8,2) CHECK (price >= 0), stock int DEFAULT 0 CHECK (stock BETWEEN 0 AND 1000), code char(4) CHECK (code IN ('a', 'b')), tags text[], embedding vector(3), created timestamptz DEFAULT now(), total numeric GENERATED ALWAYS AS (price * 2) STORED);
CREATE UNIQUE INDEX items_title_idx ON items (title);
CREATE INDEX items_embedding_idx ON items USING hnsw (embedding vector_cosine_ops) WITH (m = 8);
CREATE TABLE shop.orders (n int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, item bigint REFERENCES items(id) ON UPDATE RESTRICT DEFERRABLE INITIALLY DEFERRED, qty smallint NOT NULL DEFAULT 1);
COMMENT ON TABLE items IS 'things we sell';
\d items
\d authors
\d shop.orders
\du
\dT
\dp
\d+ items
\d+ shop.orders
\d+ items_embedding_idx
\d+ items_title_idx
\d authors_pkey
