-- name: payment_success_rate_by_day
-- version: 1
-- description: Payment success rate per day = successful attempts / all attempts (each payment row is one attempt; not the seed's order x payment rows).
-- reads: gold.daily_kpi
-- param: start date = null -- first day (default: the first day in the table)
-- param: end date = null -- last day (default: the last day in the table)
--
-- Null on days without any attempt.
SELECT
    date,
    payment_attempts,
    successful_payments,
    failed_payments,
    refunded_payments,
    pct_half_up(successful_payments, payment_attempts) AS success_rate_pct
FROM gold.daily_kpi
WHERE ($start IS NULL OR date >= CAST($start AS DATE))
  AND ($end IS NULL OR date <= CAST($end AS DATE))
ORDER BY date
