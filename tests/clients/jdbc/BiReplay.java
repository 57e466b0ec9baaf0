// Replays of the catalog queries Metabase and DBeaver send on connect,
// sync and browsing, as their source builds them (each cites its source:
// repository, path, commit), through pgjdbc as those tools do (binds with
// setString / setInt / setLong). Prints each answer; BiReplay.out is the
// output against PostgreSQL 15 + pgvector (tests/clients/record.sh),
// compared by tests/it/clients.rs. User objects' OIDs differ between
// servers, so oid values print as the object they name; values that are
// statistics or sizes print as set or null. Where GrapeDB's catalogs have
// less than PostgreSQL's (built-in roles, system columns, the node trees
// of conbin, built-in types' descriptions), a replay prints the rows and
// columns the tool needs (docs/compatibility.md lists the gaps). Run as a single source file:
//   java -cp /usr/share/java/postgresql.jar BiReplay.java HOST PORT DB
import java.sql.*;
import java.util.*;

public class BiReplay {
    static Map<Long, String> names = new HashMap<>();
    static String database;
    static final Set<String> VOLATILE = Set.of("estimated_row_count", "reltuples", "relpages",
            "relallvisible", "relfilenode", "relfrozenxid", "relminmxid", "reltoastrelid", "datfrozenxid",
            "datminmxid", "index_rel_size", "index_num_scans", "rel_size", "total_rel_size", "relhasindex",
            "relnatts", "typarray", "datcollversion");

    static String show(ResultSet rs, int i) throws SQLException {
        ResultSetMetaData md = rs.getMetaData();
        String v = rs.getString(i);
        if (v == null) return "null";
        String label = md.getColumnLabel(i);
        // The database's name differs between the two servers.
        if (label.equals("datname") && v.equals(database)) return "<db>";
        // An index's operator classes, as names where they have OIDs of
        // their own.
        if (label.equals("indclass")) {
            StringBuilder b = new StringBuilder();
            for (String o : v.split(" ")) {
                if (b.length() > 0) b.append(" ");
                try {
                    b.append(names.getOrDefault(Long.parseLong(o), o));
                } catch (NumberFormatException e) {
                    b.append(o);
                }
            }
            return b.toString();
        }
        if (VOLATILE.contains(md.getColumnLabel(i))) return "set";
        // The server's own version string: its first words.
        if (md.getColumnLabel(i).equals("version")) return v.substring(0, Math.min(v.length(), 13));
        String t = md.getColumnTypeName(i);
        if (t.equals("oid") || t.equals("regclass") || t.equals("int8") && md.getColumnLabel(i).endsWith("oid")) {
            try {
                long o = Long.parseLong(v);
                if (names.containsKey(o)) return names.get(o);
                return o < 16384 ? v : "<oid>";
            } catch (NumberFormatException e) {
                return v;
            }
        }
        return v;
    }

    /** Run one replay and print its column names and rows (sorted: tools
     * read them into maps); with `filter`, only rows whose `filter` column
     * is one of `keep`; with `columns`, only those columns. */
    static void replay(String key, PreparedStatement p, String filter, Set<String> keep, String... columns)
            throws SQLException {
        System.out.println("== " + key);
        try (ResultSet rs = p.executeQuery()) {
            ResultSetMetaData md = rs.getMetaData();
            List<String> labels = new ArrayList<>();
            List<Integer> shown = new ArrayList<>();
            List<String> wanted = Arrays.asList(columns);
            for (int i = 1; i <= md.getColumnCount(); i++) {
                labels.add(md.getColumnLabel(i));
                if (wanted.isEmpty() || wanted.contains(md.getColumnLabel(i))) shown.add(i);
            }
            System.out.println("columns: " + String.join(", ", labels));
            List<String> rows = new ArrayList<>();
            while (rs.next()) {
                if (filter != null && !keep.contains(rs.getString(filter))) continue;
                StringBuilder b = new StringBuilder();
                for (int i : shown) {
                    if (b.length() > 0) b.append(" | ");
                    b.append(show(rs, i));
                }
                rows.add(b.toString());
            }
            Collections.sort(rows);
            for (String r : rows) System.out.println(r);
        } catch (SQLException e) {
            System.out.println("error " + e.getSQLState() + ": " + e.getMessage().split("\\n")[0]);
        }
    }

    static void name(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            while (rs.next()) names.put(rs.getLong(1), rs.getString(2));
        }
    }

    public static void main(String[] args) throws Exception {
        String db = args[2];
        database = db;
        String url = "jdbc:postgresql://" + args[0] + ":" + args[1] + "/" + db;
        try (Connection c = DriverManager.getConnection(url, "grape", "")) {
            try (Statement s = c.createStatement()) {
                s.execute("CREATE EXTENSION IF NOT EXISTS vector");
                s.execute("CREATE TYPE status AS ENUM ('new', 'paid', 'shipped')");
                s.execute("CREATE TABLE customers (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE, name varchar(80))");
                s.execute("COMMENT ON TABLE customers IS 'people who buy'");
                s.execute("COMMENT ON COLUMN customers.email IS 'login address'");
                s.execute("CREATE TABLE orders ( id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers(id), total numeric(10,2) CHECK (total >= 0), state status DEFAULT 'new', placed_at timestamptz DEFAULT now(), embedding vector(3) )");
                s.execute("CREATE INDEX orders_embedding_idx ON orders USING hnsw (embedding vector_l2_ops)");
                s.execute("CREATE UNIQUE INDEX orders_customer_placed ON orders (customer_id, placed_at)");
                s.execute("CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100");
                s.execute("CREATE SEQUENCE invoice_seq");
                s.execute("CREATE SCHEMA sales");
                s.execute("CREATE TABLE sales.regions (code char(2) PRIMARY KEY, label text)");
                s.execute("INSERT INTO customers (email, name) VALUES ('a@x', 'Ann'), ('b@x', 'Bob')");
                s.execute("INSERT INTO orders (customer_id, total, embedding) VALUES (1, 10.5, '[1,2,3]'), (2, 250, '[0,0,1]')");
            }
            // The user objects' OIDs, by what they name.
            name(c, "SELECT oid, 'rel:' || relname FROM pg_class WHERE relnamespace IN "
                    + "(SELECT oid FROM pg_namespace WHERE nspname IN ('public', 'sales'))");
            name(c, "SELECT oid, 'type:' || typname FROM pg_type WHERE typnamespace IN "
                    + "(SELECT oid FROM pg_namespace WHERE nspname IN ('public', 'sales'))");
            name(c, "SELECT oid, 'nsp:' || nspname FROM pg_namespace WHERE nspname IN ('public', 'sales')");
            name(c, "SELECT oid, 'con:' || conname FROM pg_constraint WHERE connamespace IN "
                    + "(SELECT oid FROM pg_namespace WHERE nspname IN ('public', 'sales'))");
            name(c, "SELECT oid, 'db:current' FROM pg_database WHERE datname = current_database()");
            // pgvector's access method and operator classes have OIDs of
            // their own on PostgreSQL (an extension's).
            name(c, "SELECT oid, 'am:' || amname FROM pg_am");
            name(c, "SELECT oid, 'opclass:' || opcname FROM pg_opclass WHERE opcname LIKE '%vector%'");
            name(c, "SELECT oid, 'role:' || rolname FROM pg_roles WHERE rolname = current_user");
            long schemaOid, tableOid;
            try (Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT 'public'::regnamespace::oid, 'orders'::regclass::oid")) {
                rs.next();
                schemaOid = rs.getLong(1);
                tableOid = rs.getLong(2);
            }

        // M1. Connection test
        // metabase/metabase — src/metabase/driver/sql_jdbc/connection.clj @ 003c3790a0ccacc317ee8db0301736ed79db60f3 (stored version id 14131016624); `can-connect-with-spec?`
        try (PreparedStatement p = c.prepareStatement("SELECT 1")) {
            
            replay("M1_0", p, null, null);
        }
        // M2. Server default timezone
        // metabase/metabase — src/metabase/driver/postgres.clj @ 008fd6675457cdd62da2265628bed3b725a607ea (stored version id 6809050478); `driver/db-default-timezone :postgres`
        try (PreparedStatement p = c.prepareStatement("show timezone;")) {
            
            replay("M2_0", p, null, null);
        }
        // M3. describe-database: list tables/views/matviews/foreign/partitioned tables
        // metabase/metabase — src/metabase/driver/postgres.clj @ 008fd6675457cdd62da2265628bed3b725a607ea (stored version id 6809050478); `get-tables-sql / describe-syncable-tables / driver/describe-database* :postgres`
        try (PreparedStatement p = c.prepareStatement("SELECT \"n\".\"nspname\" AS \"schema\", \"c\".\"relname\" AS \"name\", CASE \"c\".\"relkind\" WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE' WHEN 'v' THEN 'VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE NULL END AS \"type\", \"d\".\"description\" AS \"description\", \"stat\".\"n_live_tup\" AS \"estimated_row_count\" FROM \"pg_catalog\".\"pg_class\" AS \"c\" INNER JOIN \"pg_catalog\".\"pg_namespace\" AS \"n\" ON \"c\".\"relnamespace\" = \"n\".\"oid\" LEFT JOIN \"pg_catalog\".\"pg_description\" AS \"d\" ON (\"c\".\"oid\" = \"d\".\"objoid\") AND (\"d\".\"objsubid\" = ?) AND (\"d\".\"classoid\" = 'pg_class'::regclass) LEFT JOIN \"pg_stat_user_tables\" AS \"stat\" ON (\"n\".\"nspname\" = \"stat\".\"schemaname\") AND (\"c\".\"relname\" = \"stat\".\"relname\") WHERE (\"c\".\"relnamespace\" = \"n\".\"oid\") AND (\"n\".\"nspname\" !~ ?) AND (\"n\".\"nspname\" <> ?) AND c.relkind in ('r', 'p', 'v', 'f', 'm') AND (\"n\".\"nspname\" IN (?)) ORDER BY \"type\" ASC, \"schema\" ASC, \"name\" ASC")) {
            p.setInt(1, 0); p.setString(2, "^pg_"); p.setString(3, "information_schema"); p.setString(4, "public");
            replay("M3_0", p, null, null);
        }
        // M4. Table privileges of current user
        // metabase/metabase — src/metabase/driver/postgres.clj @ 008fd6675457cdd62da2265628bed3b725a607ea (stored version id 6809050478); `sql-jdbc.sync/current-user-table-privileges :postgres (used by describe-database's have-privilege-fn, feature :table-privileges; also the sync-table-privileges step)`
        try (PreparedStatement p = c.prepareStatement("with table_privileges as (\n select\n   NULL as role,\n   t.schemaname as schema,\n   t.objectname as table,\n   pg_catalog.has_any_column_privilege(current_user, '\"' || replace(t.schemaname, '\"', '\"\"') || '\"' || '.' || '\"' || replace(t.objectname, '\"', '\"\"') || '\"',  'update') as update,\n   pg_catalog.has_any_column_privilege(current_user, '\"' || replace(t.schemaname, '\"', '\"\"') || '\"' || '.' || '\"' || replace(t.objectname, '\"', '\"\"') || '\"',  'select') as select,\n   pg_catalog.has_any_column_privilege(current_user, '\"' || replace(t.schemaname, '\"', '\"\"') || '\"' || '.' || '\"' || replace(t.objectname, '\"', '\"\"') || '\"',  'insert') as insert,\n   pg_catalog.has_table_privilege(     current_user, '\"' || replace(t.schemaname, '\"', '\"\"') || '\"' || '.' || '\"' || replace(t.objectname, '\"', '\"\"') || '\"',  'delete') as delete\n from (\n   select schemaname, tablename as objectname from pg_catalog.pg_tables\n   union\n   select schemaname, viewname as objectname from pg_catalog.pg_views\n   union\n   select schemaname, matviewname as objectname from pg_catalog.pg_matviews\n ) t\n where t.schemaname !~ '^pg_'\n   and t.schemaname <> 'information_schema'\n   and pg_catalog.has_schema_privilege(current_user, t.schemaname, 'usage')\n)\nselect t.*\nfrom table_privileges t")) {
            
            replay("M4_0", p, null, null);
        }
        // M5. describe-fields: columns of all synced tables (+ materialized-view columns)
        // metabase/metabase — src/metabase/driver/postgres.clj @ 008fd6675457cdd62da2265628bed3b725a607ea (stored version id 6809050478); `sql-jdbc.sync/describe-fields-sql :postgres (via driver/describe-fields :sql-jdbc)`
        try (PreparedStatement p = c.prepareStatement("SELECT \"c\".\"column_name\" AS \"name\", CASE WHEN \"c\".\"udt_schema\" IN ('public', 'pg_catalog') THEN FORMAT('%s', \"c\".\"udt_name\") ELSE FORMAT('\"%s\".\"%s\"', \"c\".\"udt_schema\", \"c\".\"udt_name\") END AS \"database-type\", \"c\".\"ordinal_position\" - 1 AS \"database-position\", \"c\".\"table_schema\" AS \"table-schema\", \"c\".\"table_name\" AS \"table-name\", \"pk\".\"column_name\" IS NOT NULL AS \"pk?\", COL_DESCRIPTION(CAST(CAST(FORMAT('%I.%I', CAST(\"c\".\"table_schema\" AS TEXT), CAST(\"c\".\"table_name\" AS TEXT)) AS REGCLASS) AS OID), \"c\".\"ordinal_position\") AS \"field-comment\", ((\"column_default\" IS NULL) OR (LOWER(\"column_default\") = 'null')) AND (\"is_nullable\" = 'NO') AND NOT (((\"column_default\" IS NOT NULL) AND (\"column_default\" LIKE '%nextval(%')) OR (\"is_identity\" <> 'NO')) AS \"database-required\", ((\"column_default\" IS NOT NULL) AND (\"column_default\" LIKE '%nextval(%')) OR (\"is_identity\" <> 'NO') AS \"database-is-auto-increment\" FROM \"information_schema\".\"columns\" AS \"c\" LEFT JOIN (SELECT \"tc\".\"table_schema\", \"tc\".\"table_name\", \"kc\".\"column_name\" FROM \"information_schema\".\"table_constraints\" AS \"tc\" INNER JOIN \"information_schema\".\"key_column_usage\" AS \"kc\" ON (\"tc\".\"constraint_name\" = \"kc\".\"constraint_name\") AND (\"tc\".\"table_schema\" = \"kc\".\"table_schema\") AND (\"tc\".\"table_name\" = \"kc\".\"table_name\") WHERE \"tc\".\"constraint_type\" = 'PRIMARY KEY') AS \"pk\" ON (\"c\".\"table_schema\" = \"pk\".\"table_schema\") AND (\"c\".\"table_name\" = \"pk\".\"table_name\") AND (\"c\".\"column_name\" = \"pk\".\"column_name\") WHERE c.table_schema !~ '^information_schema|catalog_history|pg_' AND (\"c\".\"table_schema\" IN (?)) UNION ALL SELECT \"pa\".\"attname\" AS \"name\", CASE WHEN \"ptn\".\"nspname\" IN ('public', 'pg_catalog') THEN FORMAT('%s', \"pt\".\"typname\") ELSE FORMAT('\"%s\".\"%s\"', \"ptn\".\"nspname\", \"pt\".\"typname\") END AS \"database-type\", \"pa\".\"attnum\" - 1 AS \"database-position\", \"pn\".\"nspname\" AS \"table-schema\", \"pc\".\"relname\" AS \"table-name\", FALSE AS \"pk?\", NULL AS \"field-comment\", FALSE AS \"database-required\", FALSE AS \"database-is-auto-increment\" FROM \"pg_catalog\".\"pg_class\" AS \"pc\" INNER JOIN \"pg_catalog\".\"pg_namespace\" AS \"pn\" ON \"pn\".\"oid\" = \"pc\".\"relnamespace\" INNER JOIN \"pg_catalog\".\"pg_attribute\" AS \"pa\" ON \"pa\".\"attrelid\" = \"pc\".\"oid\" INNER JOIN \"pg_catalog\".\"pg_type\" AS \"pt\" ON \"pt\".\"oid\" = \"pa\".\"atttypid\" INNER JOIN \"pg_catalog\".\"pg_namespace\" AS \"ptn\" ON \"ptn\".\"oid\" = \"pt\".\"typnamespace\" WHERE (\"pc\".\"relkind\" = 'm') AND (\"pa\".\"attnum\" >= 1) AND (\"pn\".\"nspname\" IN (?)) ORDER BY \"table-schema\" ASC, \"table-name\" ASC, \"database-position\" ASC")) {
            p.setString(1, "public"); p.setString(2, "public");
            replay("M5_0", p, null, null);
        }
        // M5. describe-fields: columns of all synced tables (+ materialized-view columns)
        // metabase/metabase — src/metabase/driver/postgres.clj @ 008fd6675457cdd62da2265628bed3b725a607ea (stored version id 6809050478); `sql-jdbc.sync/describe-fields-sql :postgres (via driver/describe-fields :sql-jdbc)`
        try (PreparedStatement p = c.prepareStatement("SELECT \"c\".\"column_name\" AS \"name\", CASE WHEN \"c\".\"udt_schema\" IN ('public', 'pg_catalog') THEN FORMAT('%s', \"c\".\"udt_name\") ELSE FORMAT('\"%s\".\"%s\"', \"c\".\"udt_schema\", \"c\".\"udt_name\") END AS \"database-type\", \"c\".\"ordinal_position\" - 1 AS \"database-position\", \"c\".\"table_schema\" AS \"table-schema\", \"c\".\"table_name\" AS \"table-name\", \"pk\".\"column_name\" IS NOT NULL AS \"pk?\", COL_DESCRIPTION(CAST(CAST(FORMAT('%I.%I', CAST(\"c\".\"table_schema\" AS TEXT), CAST(\"c\".\"table_name\" AS TEXT)) AS REGCLASS) AS OID), \"c\".\"ordinal_position\") AS \"field-comment\", ((\"column_default\" IS NULL) OR (LOWER(\"column_default\") = 'null')) AND (\"is_nullable\" = 'NO') AND NOT (((\"column_default\" IS NOT NULL) AND (\"column_default\" LIKE '%nextval(%')) OR (\"is_identity\" <> 'NO')) AS \"database-required\", ((\"column_default\" IS NOT NULL) AND (\"column_default\" LIKE '%nextval(%')) OR (\"is_identity\" <> 'NO') AS \"database-is-auto-increment\" FROM \"information_schema\".\"columns\" AS \"c\" LEFT JOIN (SELECT \"tc\".\"table_schema\", \"tc\".\"table_name\", \"kc\".\"column_name\" FROM \"information_schema\".\"table_constraints\" AS \"tc\" INNER JOIN \"information_schema\".\"key_column_usage\" AS \"kc\" ON (\"tc\".\"constraint_name\" = \"kc\".\"constraint_name\") AND (\"tc\".\"table_schema\" = \"kc\".\"table_schema\") AND (\"tc\".\"table_name\" = \"kc\".\"table_name\") WHERE \"tc\".\"constraint_type\" = 'PRIMARY KEY') AS \"pk\" ON (\"c\".\"table_schema\" = \"pk\".\"table_schema\") AND (\"c\".\"table_name\" = \"pk\".\"table_name\") AND (\"c\".\"column_name\" = \"pk\".\"column_name\") WHERE c.table_schema !~ '^information_schema|catalog_history|pg_' AND (\"c\".\"table_schema\" IN (?)) AND (\"c\".\"table_name\" IN (?)) UNION ALL SELECT \"pa\".\"attname\" AS \"name\", CASE WHEN \"ptn\".\"nspname\" IN ('public', 'pg_catalog') THEN FORMAT('%s', \"pt\".\"typname\") ELSE FORMAT('\"%s\".\"%s\"', \"ptn\".\"nspname\", \"pt\".\"typname\") END AS \"database-type\", \"pa\".\"attnum\" - 1 AS \"database-position\", \"pn\".\"nspname\" AS \"table-schema\", \"pc\".\"relname\" AS \"table-name\", FALSE AS \"pk?\", NULL AS \"field-comment\", FALSE AS \"database-required\", FALSE AS \"database-is-auto-increment\" FROM \"pg_catalog\".\"pg_class\" AS \"pc\" INNER JOIN \"pg_catalog\".\"pg_namespace\" AS \"pn\" ON \"pn\".\"oid\" = \"pc\".\"relnamespace\" INNER JOIN \"pg_catalog\".\"pg_attribute\" AS \"pa\" ON \"pa\".\"attrelid\" = \"pc\".\"oid\" INNER JOIN \"pg_catalog\".\"pg_type\" AS \"pt\" ON \"pt\".\"oid\" = \"pa\".\"atttypid\" INNER JOIN \"pg_catalog\".\"pg_namespace\" AS \"ptn\" ON \"ptn\".\"oid\" = \"pt\".\"typnamespace\" WHERE (\"pc\".\"relkind\" = 'm') AND (\"pa\".\"attnum\" >= 1) AND (\"pn\".\"nspname\" IN (?)) AND (\"pc\".\"relname\" IN (?)) ORDER BY \"table-schema\" ASC, \"table-name\" ASC, \"database-position\" ASC")) {
            p.setString(1, "public"); p.setString(2, "orders"); p.setString(3, "public"); p.setString(4, "orders");
            replay("M5_1", p, null, null);
        }
        // M6. Enum type names
        // metabase/metabase — src/metabase/driver/postgres.clj @ 008fd6675457cdd62da2265628bed3b725a607ea (stored version id 6809050478); `enum-types (called from describe-fields-pre-process-xf and driver/dynamic-database-types-lookup)`
        try (PreparedStatement p = c.prepareStatement("SELECT nspname, typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid IN (SELECT DISTINCT enumtypid FROM pg_enum e)")) {
            
            replay("M6_0", p, null, null);
        }
        // M7. describe-fks: foreign keys
        // metabase/metabase — src/metabase/driver/postgres.clj @ 008fd6675457cdd62da2265628bed3b725a607ea (stored version id 6809050478); `sql-jdbc.sync/describe-fks-sql :postgres (via driver/describe-fks)`
        try (PreparedStatement p = c.prepareStatement("SELECT \"fk_ns\".\"nspname\" AS \"fk-table-schema\", \"fk_table\".\"relname\" AS \"fk-table-name\", \"fk_column\".\"attname\" AS \"fk-column-name\", \"pk_ns\".\"nspname\" AS \"pk-table-schema\", \"pk_table\".\"relname\" AS \"pk-table-name\", \"pk_column\".\"attname\" AS \"pk-column-name\" FROM \"pg_constraint\" AS \"c\" INNER JOIN \"pg_class\" AS \"fk_table\" ON \"c\".\"conrelid\" = \"fk_table\".\"oid\" INNER JOIN \"pg_namespace\" AS \"fk_ns\" ON \"c\".\"connamespace\" = \"fk_ns\".\"oid\" INNER JOIN \"pg_attribute\" AS \"fk_column\" ON \"c\".\"conrelid\" = \"fk_column\".\"attrelid\" INNER JOIN \"pg_class\" AS \"pk_table\" ON \"c\".\"confrelid\" = \"pk_table\".\"oid\" INNER JOIN \"pg_namespace\" AS \"pk_ns\" ON \"pk_table\".\"relnamespace\" = \"pk_ns\".\"oid\" INNER JOIN \"pg_attribute\" AS \"pk_column\" ON \"c\".\"confrelid\" = \"pk_column\".\"attrelid\" WHERE fk_ns.nspname !~ '^information_schema|catalog_history|pg_' AND (\"c\".\"contype\" = 'f'::char) AND (\"fk_column\".\"attnum\" = ANY(c.conkey)) AND (\"pk_column\".\"attnum\" = ANY(c.confkey)) AND (\"fk_table\".\"relname\" IN (?)) AND (\"fk_ns\".\"nspname\" IN (?)) ORDER BY \"fk-table-schema\" ASC, \"fk-table-name\" ASC")) {
            p.setString(1, "orders"); p.setString(2, "public");
            replay("M7_0", p, null, null);
        }
        // M7. describe-fks: foreign keys
        // metabase/metabase — src/metabase/driver/postgres.clj @ 008fd6675457cdd62da2265628bed3b725a607ea (stored version id 6809050478); `sql-jdbc.sync/describe-fks-sql :postgres (via driver/describe-fks)`
        try (PreparedStatement p = c.prepareStatement("SELECT \"fk_ns\".\"nspname\" AS \"fk-table-schema\", \"fk_table\".\"relname\" AS \"fk-table-name\", \"fk_column\".\"attname\" AS \"fk-column-name\", \"pk_ns\".\"nspname\" AS \"pk-table-schema\", \"pk_table\".\"relname\" AS \"pk-table-name\", \"pk_column\".\"attname\" AS \"pk-column-name\" FROM \"pg_constraint\" AS \"c\" INNER JOIN \"pg_class\" AS \"fk_table\" ON \"c\".\"conrelid\" = \"fk_table\".\"oid\" INNER JOIN \"pg_namespace\" AS \"fk_ns\" ON \"c\".\"connamespace\" = \"fk_ns\".\"oid\" INNER JOIN \"pg_attribute\" AS \"fk_column\" ON \"c\".\"conrelid\" = \"fk_column\".\"attrelid\" INNER JOIN \"pg_class\" AS \"pk_table\" ON \"c\".\"confrelid\" = \"pk_table\".\"oid\" INNER JOIN \"pg_namespace\" AS \"pk_ns\" ON \"pk_table\".\"relnamespace\" = \"pk_ns\".\"oid\" INNER JOIN \"pg_attribute\" AS \"pk_column\" ON \"c\".\"confrelid\" = \"pk_column\".\"attrelid\" WHERE fk_ns.nspname !~ '^information_schema|catalog_history|pg_' AND (\"c\".\"contype\" = 'f'::char) AND (\"fk_column\".\"attnum\" = ANY(c.conkey)) AND (\"pk_column\".\"attnum\" = ANY(c.confkey)) AND (\"fk_ns\".\"nspname\" IN (?)) ORDER BY \"fk-table-schema\" ASC, \"fk-table-name\" ASC")) {
            p.setString(1, "public");
            replay("M7_1", p, null, null);
        }
        // M8. describe-indexes: first column of each non-partial index
        // metabase/metabase — src/metabase/driver/postgres.clj @ 008fd6675457cdd62da2265628bed3b725a607ea (stored version id 6809050478); `sql-jdbc.sync/describe-indexes-sql :postgres (via driver/describe-indexes)`
        try (PreparedStatement p = c.prepareStatement("SELECT \"tmp\".\"table-schema\", \"tmp\".\"table-name\", TRIM(BOTH '\"' FROM PG_CATALOG.PG_GET_INDEXDEF(\"tmp\".\"ci_oid\", \"tmp\".\"pos\", FALSE)) AS \"field-name\" FROM (SELECT \"n\".\"nspname\" AS \"table-schema\", \"ct\".\"relname\" AS \"table-name\", \"ci\".\"oid\" AS \"ci_oid\", (INFORMATION_SCHEMA._PG_EXPANDARRAY(\"i\".\"indkey\")).\"n\" AS \"pos\" FROM \"pg_catalog\".\"pg_class\" AS \"ct\" INNER JOIN \"pg_catalog\".\"pg_namespace\" AS \"n\" ON \"ct\".\"relnamespace\" = \"n\".\"oid\" INNER JOIN \"pg_catalog\".\"pg_index\" AS \"i\" ON \"ct\".\"oid\" = \"i\".\"indrelid\" INNER JOIN \"pg_catalog\".\"pg_class\" AS \"ci\" ON \"ci\".\"oid\" = \"i\".\"indexrelid\" WHERE (PG_CATALOG.PG_GET_EXPR(\"i\".\"indpred\", \"i\".\"indrelid\") IS NULL) AND n.nspname !~ '^information_schema|catalog_history|pg_' AND (\"n\".\"nspname\" IN (?)) AND (\"ct\".\"relname\" IN (?))) AS \"tmp\" WHERE \"tmp\".\"pos\" = ?")) {
            p.setString(1, "public"); p.setString(2, "orders"); p.setInt(3, 1);
            replay("M8_0", p, null, null);
        }
        // D1. Current schema and user
        // dbeaver/dbeaver @ `2428359b748778a5a345432906ab3da69289c20c` — `plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreExecutionContext.java` line 170, `refreshDefaults`
        try (PreparedStatement p = c.prepareStatement("SELECT current_schema(),session_user")) {
            
            replay("D1_0", p, null, null);
        }
        // D2. search_path
        // dbeaver/dbeaver @ `2428359b748778a5a345432906ab3da69289c20c` — `plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreExecutionContext.java` line 186, `refreshDefaults`
        try (PreparedStatement p = c.prepareStatement("SHOW search_path")) {
            
            replay("D2_0", p, null, null);
        }
        // D3. Database row for the connected DB
        // dbeaver/dbeaver @ `2428359b748778a5a345432906ab3da69289c20c` — `plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java` line 187, `readDatabaseInfo (called from the PostgreDatabase(monitor, dataSource, name) constructor)`
        try (PreparedStatement p = c.prepareStatement("SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE datname=?")) {
            p.setString(1, db);
            replay("D3_0", p, null, null);
        }
        // D4. standard_conforming_strings setting
        // dbeaver/dbeaver @ `2428359b748778a5a345432906ab3da69289c20c` — `plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDataSource.java` line 777, `SettingCache.prepareLookupStatement (from initializeRemoteInstance)`
        try (PreparedStatement p = c.prepareStatement("select * from pg_catalog.pg_settings where name=?")) {
            p.setString(1, "standard_conforming_strings");
            replay("D4_0", p, null, null, "name", "setting", "unit", "context", "vartype", "source", "boot_val", "reset_val", "pending_restart");
        }
        // D5. Server version string
        // dbeaver/dbeaver @ `2428359b748778a5a345432906ab3da69289c20c` — `plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDataSource.java` line 441, `initialize`
        try (PreparedStatement p = c.prepareStatement("SELECT version()")) {
            
            replay("D5_0", p, null, null);
        }
        // D6. Schema (namespace) list
        // dbeaver/dbeaver @ `2428359b748778a5a345432906ab3da69289c20c` — `plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java` line 1332, `SchemaCache.prepareLookupStatement`
        try (PreparedStatement p = c.prepareStatement("SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n\nLEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0 AND d.classoid='pg_namespace'::regclass\n ORDER BY nspname")) {
            
            replay("D6_0", p, "nspname", Set.of("public", "sales"), "oid", "nspname", "nspowner");
        }
        // D6b. Catalog capability probes (same `initialize()` step)
        // dbeaver/dbeaver @ `2428359b748778a5a345432906ab3da69289c20c` — `plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDataSource.java` lines 450 and 457, `initialize`; SQL built by `PostgreUtils.getQueryForSystemColumnChecking` (`PostgreUtils.java` line 899).
        try (PreparedStatement p = c.prepareStatement("SELECT * FROM pg_catalog.pg_enum WHERE 1<>1 LIMIT 1")) {
            
            replay("D6b_0", p, null, null);
        }
        // D6b. Catalog capability probes (same `initialize()` step)
        // dbeaver/dbeaver @ `2428359b748778a5a345432906ab3da69289c20c` — `plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDataSource.java` lines 450 and 457, `initialize`; SQL built by `PostgreUtils.getQueryForSystemColumnChecking` (`PostgreUtils.java` line 899).
        try (PreparedStatement p = c.prepareStatement("SELECT reltype FROM pg_catalog.pg_class WHERE 1<>1 LIMIT 1")) {
            
            replay("D6b_1", p, null, null);
        }
        // D7. Data types cache
        // dbeaver/dbeaver @ `2428359b748778a5a345432906ab3da69289c20c` — `plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java` line 706, `cacheDataTypes (same text in PostgreDataTypeCache.java:185 for per-schema type loading)`
        try (PreparedStatement p = c.prepareStatement("SELECT t.oid,t.*,c.relkind,format_type(nullif(t.typbasetype, 0), t.typtypmod) as base_type_name, d.description\nFROM pg_catalog.pg_type t\nLEFT OUTER JOIN pg_catalog.pg_type et ON et.oid=t.typelem \nLEFT OUTER JOIN pg_catalog.pg_class c ON c.oid=t.typrelid\nLEFT OUTER JOIN pg_catalog.pg_description d ON t.oid=d.objoid\nWHERE t.typname IS NOT NULL\nAND (c.relkind IS NULL OR c.relkind = 'c') AND (et.typcategory IS NULL OR et.typcategory <> 'C')")) {
            
            replay("D7_0", p, "typname", Set.of("bool", "int4", "int8", "text", "varchar", "numeric", "timestamptz", "bpchar", "status", "vector", "_vector", "_int4", "_text"), "oid", "typname", "typnamespace", "typowner", "typlen", "typbyval", "typtype", "typcategory", "typisdefined", "typdelim", "typrelid", "typelem", "typinput", "typoutput", "typreceive", "typsend", "typalign", "typnotnull", "typbasetype", "typtypmod", "typndims", "typcollation", "relkind", "base_type_name");
        }
        // D8. Enum values
        // dbeaver/dbeaver @ `2428359b748778a5a345432906ab3da69289c20c` — `plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java` line 1439, `EnumValueCache.prepareObjectsStatement (initEnumTypesCache)`
        try (PreparedStatement p = c.prepareStatement("SELECT * FROM pg_catalog.pg_enum")) {
            
            replay("D8_0", p, null, null);
        }
        // D9. Tables / views / matviews / sequences / foreign tables of a schema
        // dbeaver/dbeaver @ `2428359b748778a5a345432906ab3da69289c20c` — `plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java` line 844, `TableCache.prepareLookupStatement`
        try (PreparedStatement p = c.prepareStatement("SELECT c.oid,c.*,d.description,pg_catalog.pg_get_expr(c.relpartbound, c.oid) as partition_expr,  pg_catalog.pg_get_partkeydef(c.oid) as partition_key \nFROM pg_catalog.pg_class c\nLEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_class'::regclass\nWHERE c.relnamespace=? AND c.relkind not in ('i','I','c')")) {
            p.setLong(1, schemaOid);
            replay("D9_0", p, null, null);
        }
        // D10. Columns (attributes) of a table
        // dbeaver/dbeaver @ `2428359b748778a5a345432906ab3da69289c20c` — `plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java` line 882, `TableCache.prepareChildrenStatement`
        try (PreparedStatement p = c.prepareStatement("SELECT c.relname,a.*,pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) as def_value,dsc.description,dep.objid\nFROM pg_catalog.pg_attribute a\nINNER JOIN pg_catalog.pg_class c ON (a.attrelid=c.oid)\nLEFT OUTER JOIN pg_catalog.pg_attrdef ad ON (a.attrelid=ad.adrelid AND a.attnum = ad.adnum)\nLEFT OUTER JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)\nLEFT OUTER JOIN pg_depend dep on dep.refobjid = a.attrelid AND dep.deptype = 'i' and dep.refobjsubid = a.attnum and dep.classid = dep.refclassid\nWHERE NOT a.attisdropped AND c.relkind not in ('i','I','c') AND c.oid=?\nORDER BY a.attnum")) {
            p.setLong(1, tableOid);
            replay("D10_0", p, "attnum", Set.of("1", "2", "3", "4", "5", "6"), "relname", "attrelid", "attname", "atttypid", "attlen", "attnum", "attndims", "atttypmod", "attbyval", "attalign", "attnotnull", "atthasdef", "atthasmissing", "attidentity", "attgenerated", "attisdropped", "attislocal", "attinhcount", "attcollation", "def_value", "description", "objid");
        }
        // D11. Constraints (PK / UNIQUE / CHECK / FK / EXCLUDE / trigger) of a table
        // dbeaver/dbeaver @ `2428359b748778a5a345432906ab3da69289c20c` — `plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java` line 931, `ConstraintCache.prepareObjectsStatement`
        try (PreparedStatement p = c.prepareStatement("SELECT c.oid,c.*,t.relname as tabrelname,rt.relnamespace as refnamespace,d.description, case when c.contype='c' then \"substring\"(pg_get_constraintdef(c.oid), 7) else null end consrc_copy\nFROM pg_catalog.pg_constraint c\nINNER JOIN pg_catalog.pg_class t ON t.oid=c.conrelid\nLEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid=c.confrelid\nLEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_constraint'::regclass\nWHERE c.conrelid=?\nORDER BY c.oid")) {
            p.setLong(1, tableOid);
            replay("D11_0", p, null, null, "oid", "conname", "connamespace", "contype", "condeferrable", "condeferred", "convalidated", "conrelid", "contypid", "conindid", "conparentid", "confrelid", "confupdtype", "confdeltype", "confmatchtype", "conislocal", "coninhcount", "connoinherit", "conkey", "confkey", "tabrelname", "refnamespace", "description", "consrc_copy");
        }
        // D12. Indexes of a table
        // dbeaver/dbeaver @ `2428359b748778a5a345432906ab3da69289c20c` — `plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java` line 1088, `IndexCache.prepareObjectsStatement`
        try (PreparedStatement p = c.prepareStatement("SELECT i.*,i.indkey as keys,c.relname,c.relnamespace,c.relam,c.reltablespace,tc.relname as tabrelname,dsc.description,pg_catalog.pg_get_expr(i.indpred, i.indrelid) as pred_expr,pg_catalog.pg_get_expr(i.indexprs, i.indrelid, true) as expr,pg_catalog.pg_relation_size(i.indexrelid) as index_rel_size,pg_catalog.pg_stat_get_numscans(i.indexrelid) as index_num_scans\nFROM pg_catalog.pg_index i\nINNER JOIN pg_catalog.pg_class c ON c.oid=i.indexrelid\nINNER JOIN pg_catalog.pg_class tc ON tc.oid=i.indrelid\nLEFT OUTER JOIN pg_catalog.pg_description dsc ON i.indexrelid=dsc.objoid\nWHERE  i.indrelid=? ORDER BY c.relname")) {
            p.setLong(1, tableOid);
            replay("D12_0", p, null, null);
        }
        // D13. Schema relation statistics (sizes)
        // dbeaver/dbeaver @ `2428359b748778a5a345432906ab3da69289c20c` — `plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java` line 666, `collectObjectStatistics`
        try (PreparedStatement p = c.prepareStatement("select c.oid,pg_catalog.pg_total_relation_size(c.oid) as total_rel_size,pg_catalog.pg_relation_size(c.oid) as rel_size\nFROM pg_class c\nWHERE c.relnamespace=?")) {
            p.setLong(1, schemaOid);
            replay("D13_0", p, null, null);
        }
        // D14. Roles (owners)
        // dbeaver/dbeaver @ `2428359b748778a5a345432906ab3da69289c20c` — `plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreDatabase.java` line 1076, `RoleCache.prepareObjectsStatement`
        try (PreparedStatement p = c.prepareStatement("SELECT a.oid,a.*,pd.description FROM pg_catalog.pg_roles a \nleft join pg_catalog.pg_shdescription pd on a.oid = pd.objoid\nORDER BY a.rolname")) {
            
            replay("D14_0", p, "rolname", Set.of("grape"));
        }
        // D15. Table inheritance / partitions of a schema
        // dbeaver/dbeaver @ `2428359b748778a5a345432906ab3da69289c20c` — `plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/dbeaver/ext/postgresql/model/PostgreSchema.java` line 445, `cacheTableInheritance`
        try (PreparedStatement p = c.prepareStatement("SELECT i.inhrelid relid, pc.relnamespace parent_ns, pc.oid parent_oid, i.inhseqno\nFROM pg_catalog.pg_inherits i, pg_class rc, pg_class pc\nWHERE rc.oid=i.inhrelid AND rc.relnamespace=? AND pc.oid=i.inhparent")) {
            p.setLong(1, schemaOid);
            replay("D15_0", p, null, null);
        }
        }
    }
}
