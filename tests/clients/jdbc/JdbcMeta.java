// pgjdbc (Debian's libpostgresql-jdbc-java) against a server (args: host
// port dbname): DatabaseMetaData as DBeaver, DataGrip and every JDBC tool
// read it, prepared statements with a vector as PGobject, batches, and
// errors by SQLSTATE. Prints a transcript; JdbcMeta.out is its output
// against PostgreSQL 15 + pgvector (tests/clients/record.sh), compared by
// tests/it/clients.rs. Run as a single source file:
//   java -cp /usr/share/java/postgresql.jar JdbcMeta.java HOST PORT DB
import java.sql.*;
import java.util.*;
import org.postgresql.util.PGobject;

public class JdbcMeta {
    static void print(String label, ResultSet rs, String... columns) throws SQLException {
        List<String> rows = new ArrayList<>();
        while (rs.next()) {
            StringBuilder b = new StringBuilder();
            for (String c : columns) {
                if (b.length() > 0) b.append(" | ");
                b.append(rs.getString(c));
            }
            rows.add(b.toString());
        }
        Collections.sort(rows);
        for (String r : rows) System.out.println(label + ": " + r);
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://" + args[0] + ":" + args[1] + "/" + args[2];
        try (Connection c = DriverManager.getConnection(url, "grape", "")) {
            try (Statement s = c.createStatement()) {
                s.execute("CREATE EXTENSION IF NOT EXISTS vector");
                s.execute("CREATE SCHEMA jd");
                s.execute("CREATE TABLE jd.authors (id bigserial PRIMARY KEY, name varchar(80) NOT NULL UNIQUE)");
                s.execute("CREATE TABLE jd.docs (id int PRIMARY KEY, author bigint REFERENCES jd.authors(id) ON DELETE CASCADE, "
                        + "title text NOT NULL DEFAULT 'untitled', score numeric(6,2) CHECK (score >= 0), "
                        + "embedding vector(3), tags text[], made timestamptz DEFAULT now())");
                s.execute("CREATE INDEX docs_embedding_idx ON jd.docs USING hnsw (embedding vector_l2_ops)");
                s.execute("CREATE UNIQUE INDEX docs_title_idx ON jd.docs (title)");
                s.execute("COMMENT ON TABLE jd.docs IS 'documents'");
                s.execute("COMMENT ON COLUMN jd.docs.title IS 'the title'");
                s.execute("CREATE VIEW jd.recent AS SELECT id, title FROM jd.docs");
            }
            DatabaseMetaData md = c.getMetaData();
            System.out.println("product: " + md.getDatabaseProductName() + " " + (md.getDatabaseMajorVersion() >= 15));
            print("schemas", md.getSchemas(null, "jd"), "TABLE_SCHEM");
            print("tables", md.getTables(null, "jd", "%", null), "TABLE_SCHEM", "TABLE_NAME", "TABLE_TYPE", "REMARKS");
            print("columns", md.getColumns(null, "jd", "docs", "%"), "COLUMN_NAME", "DATA_TYPE", "TYPE_NAME",
                    "COLUMN_SIZE", "DECIMAL_DIGITS", "NULLABLE", "REMARKS", "COLUMN_DEF", "ORDINAL_POSITION", "IS_AUTOINCREMENT");
            print("authors columns", md.getColumns(null, "jd", "authors", "%"), "COLUMN_NAME", "TYPE_NAME", "IS_AUTOINCREMENT", "COLUMN_DEF");
            print("primary keys", md.getPrimaryKeys(null, "jd", "docs"), "COLUMN_NAME", "KEY_SEQ", "PK_NAME");
            print("indexes", md.getIndexInfo(null, "jd", "docs", false, false), "INDEX_NAME", "NON_UNIQUE", "COLUMN_NAME", "ORDINAL_POSITION", "TYPE");
            print("imported keys", md.getImportedKeys(null, "jd", "docs"), "PKTABLE_NAME", "PKCOLUMN_NAME", "FKCOLUMN_NAME",
                    "KEY_SEQ", "UPDATE_RULE", "DELETE_RULE", "FK_NAME", "PK_NAME", "DEFERRABILITY");
            print("exported keys", md.getExportedKeys(null, "jd", "authors"), "FKTABLE_NAME", "FKCOLUMN_NAME", "FK_NAME");

            try (PreparedStatement p = c.prepareStatement("INSERT INTO jd.authors (name) VALUES (?)")) {
                for (String n : new String[] {"ann", "bob"}) {
                    p.setString(1, n);
                    p.addBatch();
                }
                System.out.println("batch: " + Arrays.toString(p.executeBatch()));
            }
            try (PreparedStatement p = c.prepareStatement(
                    "INSERT INTO jd.docs (id, author, title, score, embedding, tags) VALUES (?, ?, ?, ?, ?, ?)")) {
                for (int i = 1; i <= 3; i++) {
                    PGobject v = new PGobject();
                    v.setType("vector");
                    v.setValue("[" + i + ",0,1]");
                    p.setInt(1, i);
                    p.setLong(2, 1 + i % 2);
                    p.setString(3, "doc " + i);
                    p.setBigDecimal(4, new java.math.BigDecimal(i + ".25"));
                    p.setObject(5, v);
                    p.setArray(6, c.createArrayOf("text", new String[] {"t" + i, "all"}));
                    p.executeUpdate();
                }
            }
            try (PreparedStatement p = c.prepareStatement(
                    "SELECT d.id, a.name, d.embedding, d.tags, d.score FROM jd.docs d JOIN jd.authors a ON a.id = d.author "
                    + "ORDER BY d.embedding <-> ?::vector LIMIT 2")) {
                p.setString(1, "[3,0,1]");
                try (ResultSet rs = p.executeQuery()) {
                    ResultSetMetaData rm = rs.getMetaData();
                    while (rs.next()) {
                        System.out.println("knn: " + rs.getInt(1) + " " + rs.getString(2) + " " + rs.getString(3) + " "
                                + Arrays.toString((Object[]) rs.getArray(4).getArray()) + " " + rs.getBigDecimal(5));
                    }
                    for (int i = 1; i <= rm.getColumnCount(); i++) {
                        System.out.println("result column: " + rm.getColumnName(i) + " " + rm.getColumnTypeName(i));
                    }
                }
            }
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.executeUpdate("DELETE FROM jd.docs");
                c.rollback();
                try (ResultSet rs = s.executeQuery("SELECT count(*) FROM jd.docs")) {
                    rs.next();
                    System.out.println("after rollback: " + rs.getLong(1));
                }
            }
            c.setAutoCommit(true);
            String[] bad = {
                "INSERT INTO jd.authors (name) VALUES ('ann')",
                "INSERT INTO jd.docs (id, score) VALUES (9, -1)",
                "INSERT INTO jd.docs (id, author) VALUES (9, 99)",
                "SELECT * FROM jd.nope",
            };
            for (String sql : bad) {
                try (Statement s = c.createStatement()) {
                    s.execute(sql);
                } catch (SQLException e) {
                    System.out.println("error: " + e.getSQLState() + " " + e.getMessage().split("\n")[0]);
                }
            }
        }
    }
}
