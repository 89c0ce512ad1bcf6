PRAGMA cache_size=-200000;
CREATE TABLE t(a INTEGER, b TEXT, c REAL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 400000)
INSERT INTO t SELECT i, printf('row %d %s', i, hex(randomblob(i % 40))), i * 0.5 FROM n;
CREATE INDEX tb ON t(b);
SELECT count(*), sum(length(b)) FROM t WHERE b LIKE 'row 1%';
SELECT a % 100, count(*), group_concat(substr(b, 1, 6)) FROM t GROUP BY a % 100 ORDER BY 2 LIMIT 3;
UPDATE t SET b = b || 'x' WHERE a % 5 = 0;
