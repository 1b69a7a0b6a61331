-- name: mom_revenue_growth
-- version: 1
-- description: Month-over-month revenue growth: each month against the calendar month just before it (never month numbers of different years).
-- reads: gold.monthly_financial_report
-- param: year integer = null -- only months of this calendar year (growth still uses December of the year before)
--
-- The previous month is matched by date (month - 1 month), not by LAG over the rows, so
-- a month whose predecessor was never materialized gets null growth instead of a jump.
WITH report AS (
    SELECT month, revenue FROM gold.monthly_financial_report
)
SELECT
    strftime(cur.month, '%Y-%m') AS month,
    cur.revenue,
    strftime(prev.month, '%Y-%m') AS previous_month,
    prev.revenue AS previous_revenue,
    CAST(cur.revenue - prev.revenue AS DECIMAL(18, 2)) AS revenue_change,
    pct_half_up(cur.revenue - prev.revenue, prev.revenue) AS mom_growth_pct
FROM report AS cur
LEFT JOIN report AS prev
    ON prev.month = CAST(cur.month - INTERVAL 1 MONTH AS DATE)
WHERE $year IS NULL OR year(cur.month) = $year
ORDER BY cur.month
