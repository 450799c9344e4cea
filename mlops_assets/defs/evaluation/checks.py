"""Quality gates as blocking asset checks on `model_evaluation`, one per gate.

A gate check fails when any candidate fails that gate, with each candidate's verdict in its
metadata. It fails as an ERROR, which stops `champion_model`, only when no candidate passes every
gate; while another candidate passes them all it fails as a WARN and the promotion goes on with
that candidate.
"""

import dagster as dg

from mlops_assets.keys import MODEL_EVALUATION
from mlops_assets.lib.quality.gates import GATES


def gate_check(gate: str, description: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=MODEL_EVALUATION, name=gate, blocking=True, description=f"Gate: {description}.")
    def check(model_evaluation: dict) -> dg.AssetCheckResult:
        candidates = model_evaluation["candidates"]
        failing = {kind: c["failures"][gate] for kind, c in candidates.items() if gate in c["failures"]}
        verdicts = {f"{kind} v{c['version']}": c["failures"].get(gate, "passed") for kind, c in candidates.items()}
        best = model_evaluation["best_passing"]
        return dg.AssetCheckResult(
            passed=not failing,
            severity=dg.AssetCheckSeverity.WARN if failing and best else dg.AssetCheckSeverity.ERROR,
            description=(
                "every candidate passes"
                if not failing
                else f"{', '.join(failing)} failed; "
                + (f"{best} passes every gate and is promoted" if best else "no candidate passes: the champion stays")
            ),
            metadata={"verdicts": dg.MetadataValue.json(verdicts)},
        )

    return check


gate_checks = [gate_check(gate, description) for gate, description in GATES.items()]
