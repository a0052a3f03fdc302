"""/estimate: training from token counts, an OpenAI file or a file shared in Slack; inference."""

from __future__ import annotations

from bot import blocks
from bot.files import download, find_file
from bot.flows.command import CommandFlow
from bot.flows.plumbing import BotContext, Responder
from bot.parsing import (
    EstimateCommand,
    Inference,
    TrainFromOpenAIFile,
    TrainFromSlackFile,
    TrainFromTokens,
    parse_estimate,
)
from service.estimates.schemas import (
    InferenceRequest,
    ScenarioIn,
    TrainingEstimateOut,
    TrainingRequest,
    WorkloadIn,
)


def estimate_note(parsed: EstimateCommand) -> str | None:
    if isinstance(parsed, TrainFromSlackFile):
        return "Fetching your file and counting tokens…"
    if isinstance(parsed, TrainFromOpenAIFile):
        return f"Counting tokens in {parsed.file_id}…"
    return None


async def run_estimate(parsed: EstimateCommand, reply: Responder, ctx: BotContext) -> None:
    if isinstance(parsed, TrainFromTokens):
        await estimate_from_tokens(parsed, reply, ctx)
    elif isinstance(parsed, TrainFromOpenAIFile):
        await estimate_openai_file(parsed, reply, ctx)
    elif isinstance(parsed, TrainFromSlackFile):
        await estimate_slack_file(parsed, reply, ctx)
    elif isinstance(parsed, Inference):
        await estimate_inference(parsed, reply, ctx)


async def estimate_from_tokens(parsed: TrainFromTokens, reply: Responder, ctx: BotContext) -> None:
    est = await ctx.service.estimate_training(
        TrainingRequest(
            model=parsed.model,
            tokens=parsed.tokens,
            n_examples=parsed.examples,
            n_epochs=parsed.epochs,
            as_of=parsed.as_of,
        )
    )
    await reply.send(blocks.training_estimate(est, source=f"{parsed.tokens:,} tokens per epoch"))


async def estimate_openai_file(
    parsed: TrainFromOpenAIFile, reply: Responder, ctx: BotContext
) -> None:
    # The service counts the file's tokens when it previews a job on it; nothing is launched.
    preview = await ctx.service.preview_job(
        {
            "training_file": parsed.file_id,
            "model": parsed.model,
            "hyperparameters": {"n_epochs": parsed.epochs},
            "team": ctx.default_team,
            "launched_by": f"slack:{reply.user_id}",
        }
    )
    est = TrainingEstimateOut.model_validate({"id": "", **preview.estimate})
    await reply.send(blocks.training_estimate(est, source=f"OpenAI file `{parsed.file_id}`"))


async def estimate_slack_file(
    parsed: TrainFromSlackFile, reply: Responder, ctx: BotContext
) -> None:
    file = await find_file(
        ctx.web, ref=parsed.file_ref, channel_id=reply.channel_id, user_id=reply.user_id
    )
    path = await download(
        file,
        token=ctx.slack_token,
        slack_api_url=ctx.slack_api_url,
        http=ctx.files_http,
        folder=ctx.upload_dir,
        max_bytes=ctx.max_upload_bytes,
    )
    try:
        est = await ctx.service.estimate_training_file(
            path=path,
            model=parsed.model,
            n_epochs=parsed.epochs,
            as_of=parsed.as_of,
            filename=str(file.get("name") or ""),
        )
    finally:
        path.unlink(missing_ok=True)
    await reply.send(blocks.training_estimate(est, source=f"{file.get('name', 'shared file')}"))


async def estimate_inference(parsed: Inference, reply: Responder, ctx: BotContext) -> None:
    est = await ctx.service.estimate_inference(
        InferenceRequest(
            model=parsed.model,
            workload=WorkloadIn(
                prompt_tokens=parsed.prompt_tokens,
                completion_tokens=parsed.completion_tokens,
                requests_per_day=parsed.requests_per_day,
            ),
            scenarios=[ScenarioIn(model=m) for m in parsed.vs],
            fine_tune_prompt_cut=None if parsed.prompt_cut is None else float(parsed.prompt_cut),
            training_tokens=parsed.training_tokens,
            as_of=parsed.as_of,
        )
    )
    await reply.send(blocks.inference_estimate(est))


ESTIMATE = CommandFlow("/estimate", parse_estimate, run_estimate, estimate_note)
