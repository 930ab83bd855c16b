-- Raw payments are in cents; staging converts them. No real payment here exceeds 100 dollars,
-- so a larger amount means the conversion was skipped upstream.
select payment_id, amount
from {{ ref('stg_payments') }}
where amount > 100
