"""One "machine" of tests/integration/test_judge_batch_object_lake.py, run as its own process
with its own ASSAY_HOME (its own response cache) and the shared assay.yaml, whose lake is on
object storage:

    python -m tests.support.batch_lake_child submit <day>    # call_scores: submits, writes nothing
    python -m tests.support.batch_lake_child collect <day>   # judge_batch_sensor, then call_scores

Each prints one line the test reads: `submitted <batch_pending>`, or `requested <job> <partition>`
then `scored <rows>`.
"""

import os
import sys

import dagster as dg


def _materialise_call_scores(day: str) -> dg.ExecuteInProcessResult:
    from assay.assets.assay_resource import AssayResource
    from assay.assets.call_scores import call_scores

    resource = AssayResource(home_dir=os.environ["ASSAY_HOME"], config_file=os.environ["ASSAY_CONFIG"])
    return dg.materialize([call_scores], partition_key=day, instance=dg.DagsterInstance.ephemeral(),
                          resources={"assay": resource}, selection=[call_scores])


def main() -> None:
    mode, day = sys.argv[1], sys.argv[2]
    if mode == "submit":
        result = _materialise_call_scores(day)
        assert result.success and not result.asset_materializations_for_node("call_scores")
        (check,) = result.get_asset_check_evaluations()
        print(f"submitted {check.metadata['batch_pending'].value}", flush=True)
        return
    # As the daemon does on whichever machine it runs: a fresh process, only ASSAY_CONFIG set.
    from assay.orchestration.batch_sensor import judge_batch_sensor

    instance = dg.DagsterInstance.ephemeral()
    for _tick in range(6):  # validating -> in_progress -> completed: one step per poll
        result = judge_batch_sensor(dg.build_sensor_context(instance=instance))
        if getattr(result, "run_requests", None):
            break
    for request in result.run_requests:
        print(f"requested {request.job_name} {request.partition_key}", flush=True)
    scored = _materialise_call_scores(day)
    assert scored.success
    (materialisation,) = scored.asset_materializations_for_node("call_scores")
    print(f"scored {materialisation.metadata['dagster/row_count'].value}", flush=True)


if __name__ == "__main__":
    main()
