-- A pgvector application's schema, dumped by pg_dump from GrapeDB and
-- from PostgreSQL 15 + pgvector (tests/pg_dump/record.sh): the two dumps
-- must be the same (tests/it/pg_dump.rs).
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TYPE status AS ENUM ('new', 'paid', 'shipped');
CREATE TABLE customers (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE, name varchar(80));
COMMENT ON TABLE customers IS 'people who buy';
COMMENT ON COLUMN customers.email IS 'login address';
CREATE TABLE orders (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES customers(id),
  total numeric(10,2) CHECK (total >= 0),
  state status DEFAULT 'new',
  placed_at timestamptz,
  embedding vector(3)
);
CREATE INDEX orders_embedding_idx ON orders USING hnsw (embedding vector_l2_ops);
CREATE UNIQUE INDEX orders_customer_placed ON orders (customer_id, placed_at);
CREATE SEQUENCE invoice_seq START 100 INCREMENT 5;
CREATE SCHEMA sales;
CREATE TABLE sales.regions (code char(2) PRIMARY KEY, label text);
CREATE TABLE notes (body text, score real);
INSERT INTO customers (email, name) VALUES ('a@x', 'Ann'), ('b@x', 'Bob'), ('c@x', NULL);
INSERT INTO orders (customer_id, total, state, placed_at, embedding) VALUES
  (1, 10.5, 'new', '2026-01-02 03:04:05+00', '[1,2,3]'),
  (2, 250, 'paid', '2026-02-03 04:05:06+00', '[0,0,1]'),
  (1, NULL, 'shipped', NULL, NULL);
INSERT INTO sales.regions VALUES ('EU', 'Europe'), ('US', 'tab	and ''quote''');
INSERT INTO notes VALUES ('line\one', 1.5), (NULL, NULL);
SELECT nextval('invoice_seq');
