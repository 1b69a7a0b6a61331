-- name: orders_pending_balance
-- version: 1
-- description: Orders that still owe money, one row per order (pending_amount > 0), with their age in days and age bucket.
-- reads: gold.sales_performance
-- param: as_of date = null -- age is counted to this date (default: the latest order date in the table)
-- param: min_pending decimal = 0.01 -- only orders owing at least this much
--
-- gold.sales_performance has one row per valid order with the SUCCESS payments of every
-- day summed, so nothing is multiplied by the number of payments (the seed's defect).
WITH as_of AS (
    SELECT coalesce(CAST($as_of AS DATE), max(order_date)) AS day FROM gold.sales_performance
)
SELECT
    s.order_id,
    s.customer_id,
    s.order_date,
    s.order_status,
    s.order_amount,
    s.total_paid,
    s.pending_amount,
    CAST(a.day - s.order_date AS INTEGER) AS age_days,
    CASE
        WHEN a.day - s.order_date <= 30 THEN '0-30'
        WHEN a.day - s.order_date <= 60 THEN '31-60'
        WHEN a.day - s.order_date <= 90 THEN '61-90'
        ELSE '90+'
    END AS age_bucket
FROM gold.sales_performance AS s, as_of AS a
WHERE s.pending_amount >= CAST($min_pending AS DECIMAL(18, 2))
  AND s.pending_amount > 0
  AND s.order_date <= a.day
ORDER BY s.order_date, s.order_id
