-- psql's listing commands over a schema with a vector column, an HNSW
-- index, a unique index, a foreign key, a CHECK and comments.
CREATE EXTENSION IF NOT EXISTS vector;
CREATE SCHEMA shop;
CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, price numeric(10,2) CHECK (price >= 0), embedding vector(3));
CREATE UNIQUE INDEX items_name ON items (name);
CREATE INDEX items_embedding ON items USING hnsw (embedding vector_l2_ops);
CREATE TABLE shop.orders (id int PRIMARY KEY, item bigint REFERENCES items(id), qty int);
CREATE VIEW cheap AS SELECT id, name FROM items WHERE price < 10;
CREATE SEQUENCE order_numbers;
COMMENT ON TABLE items IS 'things we sell';
COMMENT ON COLUMN items.price IS 'in euros';
\dt
\dt shop.*
\di
\dv
\ds
\dn
\dx
SELECT c.relname, c.relkind, c.relnatts, c.relhasindex, c.relchecks FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('public', 'shop') ORDER BY c.relname;
SELECT c.relname, i.indisunique, i.indisprimary, i.indkey FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'items'::regclass ORDER BY 1;
SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.relname = 'items_embedding';
SELECT obj_description('items'::regclass, 'pg_class'), col_description('items'::regclass, 3);
SELECT 'items'::regclass = (SELECT oid FROM pg_class WHERE relname = 'items'), 'shop.orders'::regclass = (SELECT oid FROM pg_class WHERE relname = 'orders');
SELECT to_regclass('no_such_table') IS NULL;
SELECT rolname, rolsuper FROM pg_roles WHERE rolname = current_user;
SELECT datname = current_database(), pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database();
SELECT extname FROM pg_extension ORDER BY 1;
