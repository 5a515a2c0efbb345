-- Per day, app, feature and subject kind (trace = an agent run, session = a conversation): how
-- many passed every evaluator that scored them, steps, tokens per task, turns, tool errors.
with subjects as (
    select * from {{ ref('stg_agent_subjects') }}
),

scores as (
    select * from {{ ref('stg_agent_scores') }}
),

verdicts as (
    select
        day,
        subject_kind,
        subject_id,
        count(*) filter (where status = 'completed') as completed_scores,
        count(*) filter (where status = 'completed' and not passed) as failed_scores
    from scores
    group by all
),

joined as (
    select
        subjects.*,
        coalesce(verdicts.completed_scores, 0) as completed_scores,
        coalesce(verdicts.failed_scores, 0) as failed_scores
    from subjects
    left join verdicts using (day, subject_kind, subject_id)
),

final as (
    select
        day,
        app,
        feature,
        subject_kind,
        count(*) as subjects,
        count(*) filter (where completed_scores > 0) as scored_subjects,
        count(*) filter (where completed_scores > 0 and failed_scores = 0) as passed_subjects,
        passed_subjects / nullif(scored_subjects, 0) as pass_rate,
        avg(steps) as mean_steps,
        quantile_cont(steps, 0.95) as steps_p95,
        avg(total_tokens) as tokens_per_task,
        avg(turns) as mean_turns,
        sum(tool_calls) as tool_calls,
        sum(tool_errors) as tool_errors,
        sum(cost_usd) as cost_usd
    from joined
    group by all
)

select * from final
