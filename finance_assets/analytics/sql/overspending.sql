-- name: overspending
-- version: 1
-- description: Department-months that spent more than their budget (variance = actual - budget > 0), with variance and variance_pct.
-- reads: gold.budget_vs_actual
-- param: threshold_pct decimal = 0 -- only rows whose variance_pct is at least this; rows with no budget (variance_pct null) always qualify
--
-- variance_pct is 100 * variance / budget, half-up, null when the budget is 0.
SELECT
    strftime(month, '%Y-%m') AS month,
    department,
    budget_amount,
    actual_amount,
    variance,
    variance_pct
FROM gold.budget_vs_actual
WHERE variance > 0
  AND (variance_pct IS NULL OR variance_pct >= CAST($threshold_pct AS DECIMAL(18, 2)))
ORDER BY budget_vs_actual.month, variance DESC, department
