using InsideLLMs.Distributed.Contracts.Training;

namespace InsideLLMs.Distributed.Silo.Extensions;

/// <summary>
/// HTTP JSON over the training run grains: <c>/api/runs/{id}</c> (status; POST a spec to start),
/// <c>/history?after=N</c>, <c>/embeddings</c> (the embeddings snapshots kept during training), <c>/stop</c>,
/// <c>/rollback</c> (back to the last checkpoint) and
/// <c>/trace</c> (Chrome trace JSON, opens in Perfetto).
/// </summary>
public static class TrainingApiExtensions
{
    public static IEndpointRouteBuilder MapTrainingApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var runs = app.MapGroup("/api/runs/{id}");
        var reads = runs.MapGroup("").WithReadTimeout();

        reads.MapGet("", async (string id, IGrainFactory grains) =>
            Results.Ok(await Run(grains, id).GetStatusAsync()));

        reads.MapGet("/history", async (string id, long? after, IGrainFactory grains) =>
            Results.Ok(await Run(grains, id).GetHistoryAsync(after ?? -1)));

        runs.MapPost("", async (string id, TrainingRunSpec spec, IGrainFactory grains) =>
        {
            try
            {
                return Results.Ok(await Run(grains, id).StartAsync(spec));
            }
            catch (ArgumentException e)
            {
                return Results.BadRequest(new ApiError(e.Message));
            }
            catch (InvalidOperationException e)
            {
                return Results.Conflict(new ApiError(e.Message));
            }
        });

        reads.MapGet("/embeddings", async (string id, IGrainFactory grains) =>
            Results.Ok(await Run(grains, id).GetEmbeddingSnapshotsAsync()));

        runs.MapPost("/stop", async (string id, IGrainFactory grains) =>
            Results.Ok(await Run(grains, id).StopAsync()));

        runs.MapPost("/rollback", async (string id, IGrainFactory grains) =>
        {
            try
            {
                return Results.Ok(await Run(grains, id).RollBackAsync());
            }
            catch (InvalidOperationException e)
            {
                return Results.Conflict(new ApiError(e.Message));
            }
        });

        reads.MapGet("/trace", async (string id, IGrainFactory grains) =>
        {
            var spans = await Run(grains, id).GetTraceAsync();
            return Results.Bytes(TraceSpanConversion.ToChromeTraceJson(spans), "application/json", $"{SafeFileName(id)}.trace.json");
        });
        return app;
    }

    private static ITrainingRunGrain Run(IGrainFactory grains, string id) => grains.GetGrain<ITrainingRunGrain>(id);

    private static string SafeFileName(string id) => string.Concat(id.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' ? c : '_'));
}
