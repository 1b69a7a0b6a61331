-- name: top_customers_by_outstanding
-- version: 1
-- description: Customers who owe the most (sum of their orders' pending amounts), largest first.
-- reads: gold.customer_360
-- param: limit integer = 10 -- how many customers
SELECT
    CAST(row_number() OVER (ORDER BY outstanding_amount DESC, customer_id) AS INTEGER) AS rank,
    customer_id,
    outstanding_amount,
    total_orders,
    total_order_value,
    total_paid,
    last_order_date
FROM gold.customer_360
WHERE outstanding_amount > 0
ORDER BY outstanding_amount DESC, customer_id
LIMIT $limit
