-- name: payment_success_rate_by_method
-- version: 1
-- description: Payment success rate per payment method = successful attempts / all attempts. Reads silver.payments.
-- reads: silver.payments
-- param: start date = null -- first payment date (default: all)
-- param: end date = null -- last payment date (default: all)
--
-- Reads silver (typed, validated payments): gold has no per-method table.
WITH payments AS (
    SELECT payment_method, payment_status
    FROM silver.payments
    WHERE ($start IS NULL OR payment_date >= CAST($start AS DATE))
      AND ($end IS NULL OR payment_date <= CAST($end AS DATE))
)
SELECT
    payment_method,
    count(*) AS payment_attempts,
    count(*) FILTER (WHERE payment_status = 'SUCCESS') AS successful_payments,
    count(*) FILTER (WHERE payment_status = 'FAILED') AS failed_payments,
    count(*) FILTER (WHERE payment_status = 'REFUNDED') AS refunded_payments,
    pct_half_up(count(*) FILTER (WHERE payment_status = 'SUCCESS'), count(*)) AS success_rate_pct
FROM payments
GROUP BY payment_method
ORDER BY payment_method
