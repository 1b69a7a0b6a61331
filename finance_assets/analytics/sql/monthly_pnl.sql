-- name: monthly_pnl
-- version: 1
-- description: Monthly P&L: revenue, expenses, net profit, expense ratio and profit margin (month = year and month, YYYY-MM).
-- reads: gold.financial_summary
-- param: year integer = null -- only this calendar year (default: every month)
--
-- expense_ratio_pct is the gold column (100 * expenses / revenue, half-up, null when
-- revenue is 0); profit_margin_pct is 100 * net_profit / revenue computed the same way.
SELECT
    strftime(month, '%Y-%m') AS month,
    total_revenue AS revenue,
    total_expenses AS expenses,
    net_profit,
    expense_ratio_pct,
    pct_half_up(net_profit, total_revenue) AS profit_margin_pct,
    orders_paid
FROM gold.financial_summary
WHERE $year IS NULL OR year = $year
ORDER BY financial_summary.month
