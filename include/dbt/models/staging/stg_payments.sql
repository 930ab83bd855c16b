select
    id as payment_id,
    order_id,
    payment_method,
    {% if var('payments_in_cents') -%}
    amount as amount  -- the upstream unit bug the data test catches
    {%- else -%}
    amount / 100.0 as amount  -- raw amounts are in cents
    {%- endif %}
from {{ ref('raw_payments') }}
