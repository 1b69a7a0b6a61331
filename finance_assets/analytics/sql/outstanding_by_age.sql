-- name: outstanding_by_age
-- version: 1
-- description: Outstanding balances by age of order (0-30, 31-60, 61-90, 90+ days) as of the latest order date, with each bucket's share.
-- reads: gold.sales_performance
-- param: as_of date = null -- age is counted to this date (default: the latest order date in the table)
--
-- Every bucket is listed, with 0 orders and 0.00 when empty. Orders dated after as_of are
-- left out.
WITH as_of AS (
    SELECT coalesce(CAST($as_of AS DATE), max(order_date)) AS day FROM gold.sales_performance
),
buckets(bucket_order, age_bucket, min_days, max_days) AS (
    VALUES (1, '0-30', 0, 30), (2, '31-60', 31, 60), (3, '61-90', 61, 90), (4, '90+', 91, NULL)
),
pending AS (
    SELECT CAST(a.day - s.order_date AS INTEGER) AS age_days, s.pending_amount
    FROM gold.sales_performance AS s, as_of AS a
    WHERE s.pending_amount > 0 AND s.order_date <= a.day
),
totals AS (
    SELECT
        b.bucket_order,
        b.age_bucket,
        count(p.pending_amount) AS orders,
        CAST(coalesce(sum(p.pending_amount), 0) AS DECIMAL(18, 2)) AS pending_amount
    FROM buckets AS b
    LEFT JOIN pending AS p
        ON p.age_days >= b.min_days AND (b.max_days IS NULL OR p.age_days <= b.max_days)
    GROUP BY b.bucket_order, b.age_bucket
)
SELECT
    t.age_bucket,
    (SELECT day FROM as_of) AS as_of,
    t.orders,
    t.pending_amount,
    pct_half_up(t.pending_amount, sum(t.pending_amount) OVER ()) AS share_pct
FROM totals AS t
ORDER BY t.bucket_order
