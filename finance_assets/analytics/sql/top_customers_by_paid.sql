-- name: top_customers_by_paid
-- version: 1
-- description: Customers who paid the most (SUCCESS payments for their orders), largest first.
-- reads: gold.customer_360
-- param: limit integer = 10 -- how many customers
SELECT
    CAST(row_number() OVER (ORDER BY total_paid DESC, customer_id) AS INTEGER) AS rank,
    customer_id,
    total_paid,
    total_orders,
    total_order_value,
    outstanding_amount,
    first_order_date,
    last_order_date
FROM gold.customer_360
WHERE total_paid > 0
ORDER BY total_paid DESC, customer_id
LIMIT $limit
