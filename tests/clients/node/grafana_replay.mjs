// Replays of the catalog queries Grafana's PostgreSQL data source sends
// (health check, version and TimescaleDB detection, the query builder's
// table and column pickers, the schema API), as its source builds them;
// each cites its source (repository, path, commit). Grafana splices
// values into the text (no parameters) except in its schema API, which
// binds them; node-postgres does the same here: a query without values
// goes as a simple Query, one with values through the extended protocol.
// grafana_replay.out is the output against PostgreSQL 15 + pgvector
// (tests/clients/record.sh), compared by tests/it/clients.rs.
import pg from 'pg';

const [host, port, database] = process.argv.slice(2);
const client = new pg.Client({ host, port: Number(port), user: 'grape', database });
await client.connect();
await client.query('CREATE EXTENSION IF NOT EXISTS vector');
await client.query(`CREATE TYPE status AS ENUM ('new', 'paid', 'shipped');
CREATE TABLE customers (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE, name varchar(80));
COMMENT ON TABLE customers IS 'people who buy';
COMMENT ON COLUMN customers.email IS 'login address';
CREATE TABLE orders (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES customers(id),
  total numeric(10,2) CHECK (total >= 0),
  state status DEFAULT 'new',
  placed_at timestamptz DEFAULT now(),
  embedding vector(3)
);
CREATE INDEX orders_embedding_idx ON orders USING hnsw (embedding vector_l2_ops);
CREATE UNIQUE INDEX orders_customer_placed ON orders (customer_id, placed_at);
CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100;
CREATE SEQUENCE invoice_seq;
CREATE SCHEMA sales;
CREATE TABLE sales.regions (code char(2) PRIMARY KEY, label text);
INSERT INTO customers (email, name) VALUES ('a@x', 'Ann'), ('b@x', 'Bob');
INSERT INTO orders (customer_id, total, embedding) VALUES (1, 10.5, '[1,2,3]'), (2, 250, '[0,0,1]');
`);

async function replay(key, sql, values) {
  console.log(`== ${key}`);
  try {
    const r = await client.query(sql, values);
    console.log(`command: ${r.command}, columns: ${r.fields.map((f) => f.name).join(', ')}`);
    for (const row of r.rows) console.log(JSON.stringify(row));
  } catch (e) {
    console.log(`error ${e.code}: ${e.message}`);
  }
}

// G1. Health check ("Save & test")
// grafana/grafana — pkg/tsdb/grafana-postgresql-datasource/pgx/handler_checkhealth.go @ 1b13755cdccfbc5420c9fcb7d6cf2dad7b2888e6 (id 3624197104); legacy lib/pq path: pkg/tsdb/grafana-postgresql-datasource/sqleng/handler_checkhealth.go @ 0c059270ae12a6b64819f9b818dff64cd98a5276 (id 729416409)
await replay('G1_0', `-- ping`);
// G2. Server version (config page auto-detect)
// grafana/grafana — public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts @ 12f912ab8d010f4d95a4043a0efaa20fc4ca0100 (stored version id 53189324356); called from public/app/plugins/datasource/grafana-postgresql-datasource/configuration/useAutoDetectFeatures.ts @ 3af0110a1a2192523521267b47ee6fede2c8ec57 (id 1634451886)
await replay('G2_0', `SELECT current_setting('server_version_num')::int/100 as version`);
// G3. TimescaleDB detection
// grafana/grafana — public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts @ 12f912ab8d010f4d95a4043a0efaa20fc4ca0100 (stored version id 53189324356); called from public/app/plugins/datasource/grafana-postgresql-datasource/configuration/useAutoDetectFeatures.ts @ 3af0110a1a2192523521267b47ee6fede2c8ec57 (id 1634451886)
await replay('G3_0', `SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'`);
// G4. Table picker / SQL autocompletion table list
// grafana/grafana — public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts @ 12f912ab8d010f4d95a4043a0efaa20fc4ca0100 (stored version id 53189324356) (`showTables()` with no schema; identical text at public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts @ eb607c510fe9fe93ca209a4ca48935321fcd363f (stored version id 155909117)); called from public/app/plugins/datasource/grafana-postgresql-datasource/datasource.ts @ 04282cd93150390a7d83089cc520d96546d576a8 (id 8398119570; same calls at 3b764a1c4fee52ec02e51ba8a596d2481f1b6a7a, id 662559138) `fetchTables()` via `getDB().tables()` and `lookup()`
await replay('G4_0', `SELECT
    CASE WHEN 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
      THEN quote_ident(table_name)
      ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
    END AS "table"
    FROM information_schema.tables
    WHERE quote_ident(table_schema) NOT IN ('information_schema',
                             'pg_catalog',
                             '_timescaledb_cache',
                             '_timescaledb_catalog',
                             '_timescaledb_internal',
                             '_timescaledb_config',
                             'timescaledb_information',
                             'timescaledb_experimental')
    ORDER BY CASE WHEN 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          ) THEN 0 ELSE 1 END, 1`);
// G5. Column picker / autocompletion columns for a table
// grafana/grafana — public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts @ 12f912ab8d010f4d95a4043a0efaa20fc4ca0100 (stored version id 53189324356) (`getSchema(table)`; identical at public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts @ eb607c510fe9fe93ca209a4ca48935321fcd363f (stored version id 155909117)); called from public/app/plugins/datasource/grafana-postgresql-datasource/datasource.ts @ 04282cd93150390a7d83089cc520d96546d576a8 (id 8398119570; same calls at 3b764a1c4fee52ec02e51ba8a596d2481f1b6a7a, id 662559138) `fetchFields()`
await replay('G5_0', `SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident('public.orders'),1) = 2
        THEN quote_ident(table_schema) = (parse_ident('public.orders'))[1]
          AND quote_ident(table_name) = (parse_ident('public.orders'))[2]
        ELSE quote_ident(table_name) = 'public.orders'
          AND 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
      END`);
// G5. Column picker / autocompletion columns for a table
// grafana/grafana — public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts @ 12f912ab8d010f4d95a4043a0efaa20fc4ca0100 (stored version id 53189324356) (`getSchema(table)`; identical at public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts @ eb607c510fe9fe93ca209a4ca48935321fcd363f (stored version id 155909117)); called from public/app/plugins/datasource/grafana-postgresql-datasource/datasource.ts @ 04282cd93150390a7d83089cc520d96546d576a8 (id 8398119570; same calls at 3b764a1c4fee52ec02e51ba8a596d2481f1b6a7a, id 662559138) `fetchFields()`
await replay('G5_1', `SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident('orders'),1) = 2
        THEN quote_ident(table_schema) = (parse_ident('orders'))[1]
          AND quote_ident(table_name) = (parse_ident('orders'))[2]
        ELSE quote_ident(table_name) = 'orders'
          AND 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
      END`);
// G6. Schema list (dataset picker) — only in some versions
// grafana/grafana — public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts @ 12f912ab8d010f4d95a4043a0efaa20fc4ca0100 (stored version id 53189324356) `showSchemas()`
await replay('G6_0', `SELECT schema_name AS "name"
    FROM information_schema.schemata
    WHERE schema_name NOT IN ('information_schema',
                              'pg_catalog',
                              'pg_toast',
                              '_timescaledb_cache',
                              '_timescaledb_catalog',
                              '_timescaledb_internal',
                              '_timescaledb_config',
                              'timescaledb_information',
                              'timescaledb_experimental')
    ORDER BY schema_name`);
// G7. Tables of one schema — only in some versions
// grafana/grafana — public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts @ 12f912ab8d010f4d95a4043a0efaa20fc4ca0100 (stored version id 53189324356) `showTables(schema)`
await replay('G7_0', `SELECT quote_ident(table_name) AS "table"
      FROM information_schema.tables
      WHERE quote_ident(table_schema) = 'public'
      ORDER BY 1`);
// G8. Backend schema API: schemas
// grafana/grafana — pkg/tsdb/grafana-postgresql-datasource/schema.go @ 043dd88a47944c35205994c4da317e100dc9b12e (id 52405395721) `querySchemas`
await replay('G8_0', `SELECT schema_name FROM information_schema.schemata
		 WHERE schema_name NOT LIKE 'pg_%' AND schema_name != 'information_schema'
		 ORDER BY schema_name`);
// G9. Backend schema API: tables of a schema
// grafana/grafana — pkg/tsdb/grafana-postgresql-datasource/schema.go @ 043dd88a47944c35205994c4da317e100dc9b12e (id 52405395721) `queryTables`
await replay('G9_0', `SELECT table_name FROM information_schema.tables
		 WHERE table_schema = $1 AND table_type IN ('BASE TABLE', 'VIEW')
		 ORDER BY table_name`, ["public"]);
// G10. Backend schema API: columns of a table
// grafana/grafana — pkg/tsdb/grafana-postgresql-datasource/schema.go @ 043dd88a47944c35205994c4da317e100dc9b12e (id 52405395721) `queryColumns`
await replay('G10_0', `SELECT column_name, data_type, udt_name, numeric_precision, numeric_scale
		 FROM information_schema.columns
		 WHERE table_schema = $1 AND table_name = $2
		 ORDER BY ordinal_position`, ["public", "orders"]);
await client.end();
