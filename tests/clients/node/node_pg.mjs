// node-postgres + pgvector-node against a server (argv: host port
// dbname). Prints a transcript; node_pg.out is its output against
// PostgreSQL 15 + pgvector (tests/clients/record.sh), compared by
// tests/it/clients.rs. node-postgres sends parameters as text through
// the extended protocol (JSON objects serialized, arrays as '{...}'),
// reads results as text and parses them by type OID.
import pg from 'pg';
import pgvector from 'pgvector/pg';

const [host, port, database] = process.argv.slice(2);
const show = (label, value) => console.log(`${label}: ${JSON.stringify(value)}`);

const client = new pg.Client({ host, port: Number(port), user: 'grape', database });
await client.connect();
await client.query('CREATE EXTENSION IF NOT EXISTS vector');
await pgvector.registerTypes(client);

show('setting', (await client.query("SELECT current_setting('server_version_num')::int >= 150000 AS ok")).rows);
show('search_path', (await client.query("SELECT current_setting('search_path') AS p")).rows);
await client.query(`CREATE TABLE node_items (id serial PRIMARY KEY, embedding vector(3), doc jsonb,
  tags text[], price numeric(8,2), made timestamptz, flag boolean, big bigint)`);
await client.query('CREATE INDEX ON node_items USING hnsw (embedding vector_cosine_ops)');

const ins = await client.query(
  'INSERT INTO node_items (embedding, doc, tags, price, made, flag, big) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id',
  [pgvector.toSql([1, 2, 3]), { a: 1, b: [true, null] }, ['x', 'y z'], '12.50', new Date('2024-05-06T07:08:09Z'), true, '9007199254740993']);
show('insert', [ins.command, ins.rowCount, ins.rows]);
for (let i = 0; i < 4; i++) {
  await client.query('INSERT INTO node_items (embedding, doc) VALUES ($1, $2)', [pgvector.toSql([i, 1, 0]), JSON.stringify({ i })]);
}
const knn = await client.query(
  'SELECT id, embedding, doc, tags, price, made, flag, big FROM node_items ORDER BY embedding <=> $1 LIMIT 3',
  [pgvector.toSql([1, 1, 1])]);
for (const r of knn.rows) show('knn', { ...r, made: r.made && r.made.toISOString() });
show('fields', knn.fields.map((f) => [f.name, f.dataTypeID === pgvector.vectorOid ? 'vector' : f.dataTypeID]).slice(2, 8));
show('jsonb ops', (await client.query("SELECT doc->'b'->>0 AS b0, doc ? 'a' AS has_a FROM node_items WHERE doc @> $1", [{ a: 1 }])).rows);
show('any', (await client.query('SELECT count(*)::int AS n FROM node_items WHERE id = ANY($1)', [[1, 2, 99]])).rows);

// A named (prepared) statement reused, and a transaction rolled back.
const named = { name: 'by_id', text: 'SELECT id, doc FROM node_items WHERE id = $1', values: [2] };
show('named', (await client.query(named)).rows);
show('named again', (await client.query({ ...named, values: [3] })).rows);
await client.query('BEGIN');
await client.query('DELETE FROM node_items');
await client.query('ROLLBACK');
show('after rollback', (await client.query('SELECT count(*)::int AS n FROM node_items')).rows);

for (const [sql, values] of [
  ['INSERT INTO node_items (id) VALUES ($1)', [1]],
  ['INSERT INTO node_items (embedding) VALUES ($1)', ['[1,2]']],
  ['SELECT $1::int', ['nope']],
  ['SELEC 1', []],
]) {
  try {
    await client.query(sql, values);
  } catch (e) {
    show('error', [e.code, e.message, e.position ?? null]);
  }
}
await client.query('DROP TABLE node_items');
await client.end();
