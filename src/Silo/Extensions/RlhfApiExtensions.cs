using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Maths.Rlhf;

namespace InsideLLMs.Distributed.Silo.Extensions;

/// <summary>
/// HTTP JSON over ranking collection: <c>/api/rlhf/rankings</c> (what was collected), <c>/api/rlhf/tasks</c> (POST
/// creates tasks from a version), <c>/api/rlhf/tasks/next?annotator=</c> (a task this annotator has not ranked),
/// <c>/api/rlhf/tasks/{id}</c> and <c>/api/rlhf/tasks/{id}/rankings</c> (GET the stored rankings; POST one),
/// <c>/api/rlhf/reward/{run}</c> (a trained reward model: normalisation and held-out agreement) and
/// <c>/api/rlhf/reward/{run}/score</c> (POST a prompt and completions: their scores), <c>/api/rlhf/ppo/{run}</c> (POST a
/// <see cref="PpoRunSpec"/> starts a PPO run; GET its status, metrics per iteration and samples) and
/// <c>/api/rlhf/ppo/{run}/stop</c>, <c>/api/rlhf/pipeline</c> (POST an <see cref="RlhfPipelineSpec"/> starts the
/// event-driven pipeline; GET its stages and events) and <c>/api/rlhf/pipeline/stop</c>. Bad input is 400 with
/// <c>{"error": "..."}</c>; a resubmission answers with the first receipt, <c>"duplicate": true</c>.
/// </summary>
public static class RlhfApiExtensions
{
    public static IEndpointRouteBuilder MapRlhfApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var rlhf = app.MapGroup("/api/rlhf");
        rlhf.MapGet("/rankings", async (IGrainFactory grains) => Results.Ok(await Board(grains).GetSummaryAsync())).WithReadTimeout();
        rlhf.MapPost("/tasks", (CreateRankingTasksRequest request, IGrainFactory grains, RlhfOptions options) =>
            ApiRefusals.Guard(async () => Results.Ok(await Board(grains).CreateTasksAsync(
                request.Count ?? 1, request.K ?? RankingRules.DefaultCompletions, request.Version ?? options.PolicyVersion))));
        rlhf.MapGet("/tasks/next", (string? annotator, int? k, string? version, IGrainFactory grains, RlhfOptions options) =>
            ApiRefusals.Guard(async () => Results.Ok(await Board(grains).NextTaskAsync(
                annotator ?? "", k ?? RankingRules.DefaultCompletions, version ?? options.PolicyVersion))));
        rlhf.MapGet("/tasks/{id}", (string id, IGrainFactory grains) =>
            ApiRefusals.Guard(async () => Results.Ok(await grains.GetGrain<IRankingTaskGrain>(id).GetAsync()))).WithReadTimeout();
        rlhf.MapGet("/tasks/{id}/rankings", (string id, IGrainFactory grains) =>
            ApiRefusals.Guard(async () => Results.Ok(await grains.GetGrain<IRankingTaskGrain>(id).GetRankingsAsync()))).WithReadTimeout();
        rlhf.MapPost("/tasks/{id}/rankings", (string id, SubmitRankingRequest request, IGrainFactory grains) =>
            ApiRefusals.Guard(async () => Results.Ok(await grains.GetGrain<IRankingTaskGrain>(id).SubmitAsync(request.Annotator, request.Order, request.Simulated ?? false))));
        rlhf.MapGet("/reward/{run}", (string run, IGrainFactory grains) =>
            ApiRefusals.Guard(async () => Results.Ok(await grains.GetGrain<IRewardModelGrain>(run).GetInfoAsync())));
        rlhf.MapPost("/reward/{run}/score", (string run, ScoreCompletionsRequest request, IGrainFactory grains) =>
            ApiRefusals.Guard(async () => Results.Ok(await grains.GetGrain<IRewardModelGrain>(run).ScoreAsync(request.Prompt, request.Completions))));
        rlhf.MapPost("/pipeline", (RlhfPipelineSpec spec, IGrainFactory grains) =>
            ApiRefusals.Guard(async () => Results.Ok(await Pipeline(grains).StartAsync(spec))));
        rlhf.MapGet("/pipeline", async (IGrainFactory grains) => Results.Ok(await Pipeline(grains).GetStatusAsync())).WithReadTimeout();
        rlhf.MapPost("/pipeline/stop", async (IGrainFactory grains) => Results.Ok(await Pipeline(grains).StopAsync()));
        rlhf.MapPost("/ppo/{run}", (string run, PpoRunSpec spec, IGrainFactory grains) =>
            ApiRefusals.Guard(async () => Results.Ok(await grains.GetGrain<IPpoRunGrain>(run).StartAsync(spec))));
        rlhf.MapGet("/ppo/{run}", async (string run, IGrainFactory grains) => Results.Ok(await grains.GetGrain<IPpoRunGrain>(run).GetStatusAsync())).WithReadTimeout();
        rlhf.MapPost("/ppo/{run}/stop", async (string run, IGrainFactory grains) => Results.Ok(await grains.GetGrain<IPpoRunGrain>(run).StopAsync()));
        return app;
    }

    private static IRankingBoardGrain Board(IGrainFactory grains) => grains.GetGrain<IRankingBoardGrain>(RankingNames.Board);

    private static IRlhfPipelineGrain Pipeline(IGrainFactory grains) => grains.GetGrain<IRlhfPipelineGrain>(RlhfPipelineNames.Default);
}

/// <summary>What <c>POST /api/rlhf/tasks</c> takes: how many tasks (1), of how many completions (4), from which version (the policy).</summary>
public sealed record CreateRankingTasksRequest(int? Count = null, int? K = null, string? Version = null);

/// <summary>What <c>POST /api/rlhf/reward/{run}/score</c> takes: a prompt and 1 to 16 completions of it.</summary>
public sealed record ScoreCompletionsRequest(string Prompt, string[] Completions);

/// <summary>What <c>POST /api/rlhf/tasks/{id}/rankings</c> takes: who ranks, the completions' indices best first, and whether a simulated annotator did.</summary>
public sealed record SubmitRankingRequest(string Annotator, int[] Order, bool? Simulated = null);
