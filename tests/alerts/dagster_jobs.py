"""A tiny Dagster job that fails on demand (module level: Dagster resolves annotations)."""

import dagster as dg


@dg.op(config_schema={"fail": bool})
def pay_vendor(context: dg.OpExecutionContext) -> None:
    if context.op_config["fail"]:
        raise RuntimeError("RazorpayX said no")


@dg.job
def settlement() -> None:
    pay_vendor()
