-- A view over schema.sql's tables (pg_dump orders it after them by its
-- rule's dependencies; PostgreSQL prints its definition in other words,
-- so it is only in the round trip through GrapeDB).
CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100;
COMMENT ON VIEW big_orders IS 'orders over 100';
