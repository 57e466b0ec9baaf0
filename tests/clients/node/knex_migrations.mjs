// knex 3 (node-postgres) migrations and query builder against a server
// (argv: host port dbname). Prints a transcript; knex_migrations.out is its
// output against PostgreSQL 15 + pgvector (tests/clients/record.sh),
// compared by tests/it/clients.rs.
//
// What it exercises is a Node application's migrations: knex's lock and
// bookkeeping tables, schema builder DDL (FKs, CHECK, UNIQUE, comments, a
// vector column, an HNSW index in raw SQL), a data backfill with UPDATE,
// a batch whose last migration fails (knex runs a batch in one
// transaction: the whole batch's DDL and data must roll back), rollback of
// a batch, and the information_schema lookups behind hasTable, hasColumn
// and columnInfo.
import knexFactory from 'knex';
import pgvector from 'pgvector/knex';

const [host, port, database] = process.argv.slice(2);

function show(label, value) {
  console.log(`${label}: ${JSON.stringify(value)}`);
}

function source(migrations) {
  return {
    getMigrations: async () => Object.keys(migrations),
    getMigrationName: (m) => m,
    getMigration: async (m) => migrations[m],
  };
}

const good = {
  '001_tables': {
    up: async (knex) => {
      await knex.schema.createTable('kx_sources', (t) => {
        t.increments('id');
        t.text('url').notNullable().unique();
        t.comment('where chunks come from');
      });
      await knex.schema.createTable('kx_chunks', (t) => {
        t.increments('id');
        t.integer('source_id').notNullable().references('id').inTable('kx_sources').onDelete('CASCADE');
        t.text('body').comment('the text');
        t.specificType('embedding', 'vector(3)');
        t.decimal('weight', 8, 2).defaultTo(1);
        t.check('?? >= 0', ['weight'], 'kx_chunks_weight_check');
      });
      await knex.raw('CREATE INDEX kx_chunks_embedding_idx ON kx_chunks USING hnsw (embedding vector_l2_ops)');
    },
    down: async (knex) => {
      await knex.schema.dropTable('kx_chunks');
      await knex.schema.dropTable('kx_sources');
    },
  },
  '002_backfill': {
    up: async (knex) => {
      await knex('kx_sources').insert([{ url: 'https://a' }, { url: 'https://b' }]);
      await knex('kx_chunks').insert([
        { source_id: 1, body: 'one', embedding: pgvector.toSql([1, 2, 3]) },
        { source_id: 2, body: 'two', embedding: pgvector.toSql([3, 2, 1]) },
        { source_id: 2, body: 'three' },
      ]);
      await knex.schema.alterTable('kx_chunks', (t) => {
        t.integer('body_len');
      });
      await knex('kx_chunks').update({ body_len: knex.raw('length(body)') });
    },
    down: async (knex) => {
      await knex.schema.alterTable('kx_chunks', (t) => {
        t.dropColumn('body_len');
      });
      await knex('kx_chunks').del();
      await knex('kx_sources').del();
    },
  },
};

const failing = {
  ...good,
  '003_more': {
    up: async (knex) => {
      await knex.schema.createTable('kx_tags', (t) => {
        t.increments('id');
        t.text('name');
      });
      await knex('kx_tags').insert({ name: 'x' });
      await knex('kx_chunks').update({ body: knex.raw('upper(body)') });
    },
    down: async (knex) => knex.schema.dropTable('kx_tags'),
  },
  '004_fails': {
    up: async (knex) => {
      await knex.schema.alterTable('kx_chunks', (t) => {
        t.unique(['source_id']);
      });
    },
    down: async () => {},
  },
};

function connect(migrations) {
  return knexFactory({
    client: 'pg',
    connection: { host, port: Number(port), database, user: 'grape' },
    pool: { min: 1, max: 2 },
    migrations: { migrationSource: source(migrations) },
  });
}

async function state(knex, label) {
  const tables = await knex('information_schema.tables')
    .where({ table_schema: 'public' })
    .andWhere((q) => q.where('table_name', 'like', 'kx%').orWhere('table_name', 'like', 'knex%'))
    .orderBy('table_name')
    .pluck('table_name');
  show(`${label} tables`, tables);
  for (const t of tables) {
    const info = await knex(t).columnInfo();
    show(`${label} ${t} columns`, info);
  }
  if (tables.includes('kx_chunks')) {
    show(`${label} chunks`, await knex('kx_chunks').select('*').orderBy('id'));
  }
  show(`${label} version`, await knex.migrate.currentVersion());
}

// Two batches: the first migration alone, then the rest.
let knex = connect({ '001_tables': good['001_tables'] });
await knex.raw('CREATE EXTENSION IF NOT EXISTS vector');
show('first batch', await knex.migrate.latest());
await knex.destroy();
knex = connect(good);
show('second batch', await knex.migrate.latest());
show('list', await knex.migrate.list());
await state(knex, 'latest');
show('hasTable', [await knex.schema.hasTable('kx_chunks'), await knex.schema.hasTable('nope')]);
show('hasColumn', [await knex.schema.hasColumn('kx_chunks', 'embedding'), await knex.schema.hasColumn('kx_chunks', 'nope')]);

const near = await knex('kx_chunks')
  .select('id', 'body')
  .whereNotNull('embedding')
  .orderByRaw('embedding <-> ?', [pgvector.toSql([3, 2, 2])])
  .limit(2);
show('knn', near);
const [added] = await knex('kx_chunks').insert({ source_id: 1, body: 'four', embedding: pgvector.toSql([0, 0, 1]) }).returning(['id', 'embedding']);
show('returning', { id: added.id, embedding: pgvector.fromSql(added.embedding) });
show('whereIn', await knex('kx_chunks').whereIn('id', [1, 4]).orderBy('id').pluck('body'));
show('count', await knex('kx_chunks').count('* as n').groupBy('source_id').orderBy('source_id'));
try {
  await knex.transaction(async (trx) => {
    await trx('kx_chunks').where({ id: 4 }).del();
    await trx('kx_chunks').insert({ source_id: 99, body: 'orphan' });
  });
} catch (e) {
  show('transaction', [e.code, e.constraint]);
}
show('after rollback', await knex('kx_chunks').count('* as n'));
await knex('kx_chunks').where({ id: 4 }).del();
await knex.destroy();

knex = connect(failing);
try {
  await knex.migrate.latest();
  show('failing batch', 'succeeded');
} catch (e) {
  show('failing batch', [e.code]);
}
await state(knex, 'after failure');
await knex.destroy();

knex = connect(good);
show('rollback', await knex.migrate.rollback());
await state(knex, 'rolled back');
show('rollback all', await knex.migrate.rollback(undefined, true));
await state(knex, 'empty');
await knex.destroy();
