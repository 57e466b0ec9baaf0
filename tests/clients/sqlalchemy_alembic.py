"""SQLAlchemy 2.0 (psycopg 3 driver) + pgvector-python + Alembic against a
server (argv: host port dbname). Prints a transcript;
sqlalchemy_alembic.out is its output against PostgreSQL 15 + pgvector
(tests/clients/record.sh), compared by tests/it/clients.rs.

What it exercises is what an application's migration tooling does:
- SQLAlchemy's metadata.create_all (vector columns, FKs, CHECK, UNIQUE,
  comments, an HNSW index with its operator class and WITH options);
- the Inspector's reflection (every get_* Alembic and admin tools call),
  which reads pg_catalog through SQLAlchemy's own queries;
- Alembic autogenerate (compare_metadata against the live schema, and
  the migration script it would write), then upgrade and downgrade of a
  chain of revisions that creates tables, an FK, an HNSW index and
  backfills data with UPDATE;
- a chain whose third step fails: Alembic runs the whole upgrade in one
  transaction on PostgreSQL, so the first two steps' DDL and data must
  be rolled back with it and the catalog left as it was."""
import os
import sys
import tempfile
import textwrap

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata, produce_migrations, render_python_code
from alembic.config import Config
from alembic.migration import MigrationContext
from pgvector.sqlalchemy import Vector

HOST, PORT, DB = sys.argv[1], sys.argv[2], sys.argv[3]
URL = f"postgresql+psycopg://grape@{HOST}:{PORT}/{DB}"


def show(label, value):
    print(f"{label}: {value!r}")


def clean(value):
    """Reflection results with what differs between servers by nature
    (OIDs) left out, and dict keys sorted so the transcript is stable."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return type(value)(clean(v) for v in value)
    if isinstance(value, sa.types.TypeEngine):
        return repr(value)
    return value


engine = sa.create_engine(URL)
with engine.begin() as conn:
    conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))

# --- create_all from metadata ---------------------------------------------
meta = sa.MetaData()
authors = sa.Table(
    "sa_authors",
    meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(80), nullable=False, unique=True),
    sa.Column("joined", sa.DateTime(timezone=True), server_default=sa.func.now()),
    comment="who writes",
)
docs = sa.Table(
    "sa_docs",
    meta,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("author_id", sa.Integer, sa.ForeignKey("sa_authors.id", ondelete="CASCADE"), nullable=False),
    sa.Column("title", sa.Text, nullable=False, comment="the heading"),
    sa.Column("score", sa.Numeric(10, 2), server_default="0"),
    sa.Column("tags", sa.ARRAY(sa.Text)),
    sa.Column("meta", sa.dialects.postgresql.JSONB),
    sa.Column("embedding", Vector(3)),
    sa.CheckConstraint("score >= 0", name="sa_docs_score_check"),
    sa.UniqueConstraint("author_id", "title", name="sa_docs_author_title_key"),
)
sa.Index(
    "sa_docs_embedding_idx",
    docs.c.embedding,
    postgresql_using="hnsw",
    postgresql_with={"m": 16, "ef_construction": 64},
    postgresql_ops={"embedding": "vector_cosine_ops"},
)
sa.Index("sa_docs_title_idx", docs.c.title)
meta.create_all(engine)
show("create_all", sorted(meta.tables))

with engine.begin() as conn:
    conn.execute(authors.insert(), [{"id": 1, "name": "ann"}, {"id": 2, "name": "bob"}])
    conn.execute(
        docs.insert(),
        [
            {"author_id": 1, "title": "a", "score": 1.5, "tags": ["x", "y"], "meta": {"k": 1}, "embedding": [1, 0, 0]},
            {"author_id": 2, "title": "b", "score": 2, "tags": [], "meta": None, "embedding": [0, 1, 0]},
        ],
    )
    rows = conn.execute(
        sa.select(docs.c.id, docs.c.title, docs.c.score, docs.c.tags, docs.c.meta)
        .order_by(docs.c.embedding.cosine_distance([1, 0.1, 0]))
    ).all()
    show("knn", [tuple(r) for r in rows])

# --- reflection -------------------------------------------------------------
insp = sa.inspect(engine)
show("has_table", (insp.has_table("sa_docs"), insp.has_table("nope")))
show("schemas", [s for s in insp.get_schema_names() if not s.startswith("pg_")])
show("tables", sorted(insp.get_table_names()))
for table in ("sa_authors", "sa_docs"):
    for col in insp.get_columns(table):
        show(f"{table} column", clean(col))
    show(f"{table} pk", clean(insp.get_pk_constraint(table)))
    show(f"{table} fks", clean(insp.get_foreign_keys(table)))
    show(f"{table} indexes", clean(sorted(insp.get_indexes(table), key=lambda i: i["name"])))
    show(f"{table} uniques", clean(insp.get_unique_constraints(table)))
    show(f"{table} checks", clean(insp.get_check_constraints(table)))
    show(f"{table} comment", insp.get_table_comment(table))
reflected = sa.MetaData()
reflected.reflect(engine)
show("reflect", sorted(reflected.tables))

# --- autogenerate: the live schema against a changed model ------------------
target = sa.MetaData()
for t in meta.tables.values():
    t.to_metadata(target)
target.tables["sa_docs"].append_column(sa.Column("summary", sa.Text))
sa.Table("sa_new", target, sa.Column("id", sa.Integer, primary_key=True), sa.Column("v", Vector(2)))
target.remove(target.tables["sa_authors"])
sa.Table(
    "sa_authors",
    target,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(120), nullable=False, unique=True),
    sa.Column("joined", sa.DateTime(timezone=True), server_default=sa.func.now()),
    comment="who writes",
)
with engine.connect() as conn:
    ctx = MigrationContext.configure(conn, opts={"compare_type": True})
    diffs = compare_metadata(ctx, target)
    for d in diffs:
        show("diff", d if not isinstance(d, tuple) else tuple(str(x) if isinstance(x, (sa.Table, sa.Column, sa.Index)) else x for x in d))
    print(render_python_code(produce_migrations(ctx, target).upgrade_ops))

# --- upgrade / downgrade of a revision chain --------------------------------
HEADER = '''from alembic import op
import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
revision = "{rev}"
down_revision = {down}
branch_labels = None
depends_on = None
'''
CHAIN = [
    ("r1", None, '''
def upgrade():
    op.create_table("mig_sources", sa.Column("id", sa.Integer, primary_key=True), sa.Column("url", sa.Text, nullable=False))
    op.create_table(
        "mig_chunks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source_id", sa.Integer, sa.ForeignKey("mig_sources.id"), nullable=False),
        sa.Column("body", sa.Text),
        sa.Column("embedding", Vector(3)),
    )
    op.execute("INSERT INTO mig_sources VALUES (1, 'https://a'), (2, 'https://b')")
    op.execute("INSERT INTO mig_chunks VALUES (1, 1, 'one', '[1,2,3]'), (2, 2, 'two', '[3,2,1]'), (3, 2, 'three', NULL)")

def downgrade():
    op.drop_table("mig_chunks")
    op.drop_table("mig_sources")
'''),
    ("r2", '"r1"', '''
def upgrade():
    op.add_column("mig_chunks", sa.Column("body_len", sa.Integer))
    op.execute("UPDATE mig_chunks SET body_len = length(body)")
    op.alter_column("mig_chunks", "body_len", nullable=False)
    op.create_index("mig_chunks_embedding_idx", "mig_chunks", ["embedding"], postgresql_using="hnsw",
                    postgresql_ops={"embedding": "vector_l2_ops"})
    op.create_unique_constraint("mig_sources_url_key", "mig_sources", ["url"])

def downgrade():
    op.drop_constraint("mig_sources_url_key", "mig_sources")
    op.drop_index("mig_chunks_embedding_idx", table_name="mig_chunks")
    op.drop_column("mig_chunks", "body_len")
'''),
]
FAILING = [
    ("f1", None, '''
def upgrade():
    op.create_table("bad_a", sa.Column("id", sa.Integer, primary_key=True), sa.Column("e", Vector(2)))
    op.execute("INSERT INTO bad_a VALUES (1, '[1,1]')")
    op.create_index("bad_a_e_idx", "bad_a", ["e"], postgresql_using="hnsw", postgresql_ops={"e": "vector_l2_ops"})

def downgrade():
    op.drop_table("bad_a")
'''),
    ("f2", '"f1"', '''
def upgrade():
    op.add_column("mig_sources", sa.Column("lang", sa.Text, server_default="en"))
    op.execute("UPDATE mig_chunks SET body = upper(body)")

def downgrade():
    op.drop_column("mig_sources", "lang")
'''),
    ("f3", '"f2"', '''
def upgrade():
    # Fails: source 2 has two chunks.
    op.create_unique_constraint("mig_chunks_source_key", "mig_chunks", ["source_id"])

def downgrade():
    pass
'''),
]


def alembic_config(workdir, chain, version_table):
    versions = os.path.join(workdir, "versions")
    os.makedirs(versions)
    with open(os.path.join(workdir, "env.py"), "w") as f:
        f.write(textwrap.dedent(f'''
            from alembic import context
            import sqlalchemy as sa
            engine = sa.create_engine({URL!r})
            with engine.connect() as connection:
                context.configure(connection=connection, target_metadata=None,
                                  version_table={version_table!r})
                with context.begin_transaction():
                    context.run_migrations()
            '''))
    with open(os.path.join(workdir, "script.py.mako"), "w") as f:
        f.write("")
    for rev, down, body in chain:
        with open(os.path.join(versions, f"{rev}.py"), "w") as f:
            f.write(HEADER.format(rev=rev, down=down or "None") + body)
    cfg = Config()
    cfg.set_main_option("script_location", workdir)
    return cfg


def catalog(label):
    insp = sa.inspect(engine)
    tables = sorted(t for t in insp.get_table_names() if t.startswith(("mig_", "bad_", "alembic")))
    show(f"{label} tables", tables)
    for t in tables:
        if t.startswith("alembic"):
            continue
        show(f"{label} {t} columns", [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(t)])
        show(f"{label} {t} indexes", sorted((i["name"], i["column_names"], i["unique"]) for i in insp.get_indexes(t)))
        show(f"{label} {t} uniques", [(u["name"], u["column_names"]) for u in insp.get_unique_constraints(t)])
        show(f"{label} {t} fks", [(f["constrained_columns"], f["referred_table"]) for f in insp.get_foreign_keys(t)])
    with engine.connect() as conn:
        if "mig_chunks" in tables:
            show(f"{label} rows", [tuple(r) for r in conn.execute(sa.text("SELECT * FROM mig_chunks ORDER BY id"))])
        for vt in ("alembic_version", "alembic_failing"):
            if vt in tables:
                show(f"{label} {vt}", [tuple(r) for r in conn.execute(sa.text(f"SELECT version_num FROM {vt}"))])


with tempfile.TemporaryDirectory() as tmp:
    cfg = alembic_config(os.path.join(tmp, "chain"), CHAIN, "alembic_version")
    command.upgrade(cfg, "head")
    catalog("upgraded")
    command.downgrade(cfg, "r1")
    catalog("down to r1")
    command.upgrade(cfg, "head")
    catalog("up again")

    bad = alembic_config(os.path.join(tmp, "failing"), FAILING, "alembic_failing")
    try:
        command.upgrade(bad, "head")
        show("failing upgrade", "succeeded")
    except sa.exc.DBAPIError as e:
        show("failing upgrade", (type(e.orig).__name__, e.orig.sqlstate))
    catalog("after failure")

    command.downgrade(cfg, "base")
    catalog("downgraded")
engine.dispose()
