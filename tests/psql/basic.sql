CREATE TABLE fruit (id int PRIMARY KEY, name text NOT NULL, price numeric(6,2));
INSERT INTO fruit VALUES (1, 'apple', 1.25), (2, 'banana', 0.50), (3, 'cherry', 12.00);
SELECT id, name, price FROM fruit ORDER BY id;
UPDATE fruit SET price = price + 1 WHERE name = 'banana';
SELECT name, price FROM fruit WHERE id = 2;
SELECT count(*) AS n, sum(price) AS total FROM fruit;
SELECT * FROM nowhere;
DELETE FROM fruit WHERE id = 3;
SELECT name FROM fruit ORDER BY name;
