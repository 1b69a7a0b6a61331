-- name: collections_by_payment_method
-- version: 1
-- description: Money collected (SUCCESS payments) by payment method with its share of all collections, and what failed or was refunded. Reads silver.payments.
-- reads: silver.payments
-- param: start date = null -- first payment date (default: all)
-- param: end date = null -- last payment date (default: all)
--
-- Reads silver (typed, validated payments): gold has no per-method table. Payments whose
-- order is unknown count, as they do in revenue (contract section 4).
WITH payments AS (
    SELECT payment_method, payment_status, paid_amount
    FROM silver.payments
    WHERE ($start IS NULL OR payment_date >= CAST($start AS DATE))
      AND ($end IS NULL OR payment_date <= CAST($end AS DATE))
),
by_method AS (
    SELECT
        payment_method,
        count(*) FILTER (WHERE payment_status = 'SUCCESS') AS successful_payments,
        CAST(coalesce(sum(paid_amount) FILTER (WHERE payment_status = 'SUCCESS'), 0)
            AS DECIMAL(18, 2)) AS collected_amount,
        count(*) FILTER (WHERE payment_status = 'FAILED') AS failed_payments,
        CAST(coalesce(sum(paid_amount) FILTER (WHERE payment_status = 'FAILED'), 0)
            AS DECIMAL(18, 2)) AS failed_amount,
        count(*) FILTER (WHERE payment_status = 'REFUNDED') AS refunded_payments,
        CAST(coalesce(sum(paid_amount) FILTER (WHERE payment_status = 'REFUNDED'), 0)
            AS DECIMAL(18, 2)) AS refunded_amount
    FROM payments
    GROUP BY payment_method
)
SELECT
    payment_method,
    successful_payments,
    collected_amount,
    pct_half_up(collected_amount, sum(collected_amount) OVER ()) AS share_of_collections_pct,
    failed_payments,
    failed_amount,
    refunded_payments,
    refunded_amount
FROM by_method
ORDER BY collected_amount DESC, payment_method
