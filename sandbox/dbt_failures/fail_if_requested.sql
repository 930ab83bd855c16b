{#- A pre-hook that fails the model at run time when its name is in var('fail_models').
    Renders nothing otherwise, so dbt runs no extra statement. -#}
{% macro fail_if_requested() -%}
  {%- if model is defined and model.name in var('fail_models', []) -%}
    select cast('forced failure of {{ model.name }} (var fail_models)' as integer)
  {%- endif -%}
{%- endmacro %}
