-- name: daily_kpi_trend
-- version: 1
-- description: Daily revenue, expenses, profit, orders and payment success, with a rolling 7-day revenue and month-to-date revenue.
-- reads: gold.daily_kpi
-- param: start date = null -- first day (default: the first day in the table)
-- param: end date = null -- last day (default: the last day in the table)
--
-- revenue_7d sums the revenue of the 7 calendar days ending that day (days not in the
-- table count as nothing); revenue_mtd sums the month so far. Both are computed before
-- the date filter, so the first days of a filtered range are complete.
WITH trend AS (
    SELECT
        *,
        CAST(sum(revenue) OVER (
            ORDER BY date RANGE BETWEEN INTERVAL 6 DAYS PRECEDING AND CURRENT ROW
        ) AS DECIMAL(18, 2)) AS revenue_7d,
        CAST(sum(revenue) OVER (
            PARTITION BY date_trunc('month', date) ORDER BY date
        ) AS DECIMAL(18, 2)) AS revenue_mtd
    FROM gold.daily_kpi
)
SELECT
    date,
    revenue,
    expenses,
    profit,
    orders_count,
    order_value,
    payment_attempts,
    successful_payments,
    payment_success_rate_pct,
    revenue_7d,
    revenue_mtd
FROM trend
WHERE ($start IS NULL OR date >= CAST($start AS DATE))
  AND ($end IS NULL OR date <= CAST($end AS DATE))
ORDER BY date
