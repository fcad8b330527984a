using System.Text.Json;
using InsideLLMs.Distributed.Contracts.Inference;

namespace InsideLLMs.Distributed.Silo.Extensions;

/// <summary>
/// HTTP JSON over model versions, generation and inspection: <c>/api/versions</c> (list; POST <c>/{name}</c> with
/// <c>{"runId": ...}</c> publishes), <c>/api/versions/{name}/generate</c> (the token list, or NDJSON with
/// <c>?stream=true</c>) and <c>/api/inspect/{source}/...</c>, where source is a version name or <c>live:{runId}</c>
/// (<c>/training-token?step=&amp;position=&amp;top=</c> takes a live run only).
/// Bad input is 400 with <c>{"error": "..."}</c>.
/// </summary>
public static class InferenceApiExtensions
{
    public static IEndpointRouteBuilder MapInferenceApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var versions = app.MapGroup("/api/versions");
        versions.MapGet("", async (IGrainFactory grains) =>
            Results.Ok(await grains.GetGrain<IModelCatalogGrain>(InferenceNames.CatalogKey).ListAsync())).WithReadTimeout();
        versions.MapGet("/{name}", (string name, IGrainFactory grains) =>
            ApiRefusals.Guard(async () => Results.Ok(await grains.GetGrain<IModelVersionGrain>(name).GetInfoAsync()))).WithReadTimeout();
        versions.MapPost("/{name}", (string name, PublishRequest request, IGrainFactory grains) =>
            ApiRefusals.Guard(async () => Results.Ok(request.PpoRun is { } ppo
                ? await grains.GetGrain<IModelVersionGrain>(name).PublishPolicyAsync(ppo, request.Stages)
                : await grains.GetGrain<IModelVersionGrain>(name).PublishAsync(request.RunId!, request.Stages))));
        versions.MapPost("/{name}/generate", GenerateAsync);

        var inspect = app.MapGroup("/api/inspect/{source}");
        inspect.MapGet("/tokenize", (string source, string? text, IGrainFactory grains) =>
            ApiRefusals.Guard(async () => Results.Ok(await Inspector(grains, source).TokenizeAsync(text ?? ""))));
        inspect.MapGet("/embeddings", (string source, IGrainFactory grains) =>
            ApiRefusals.Guard(async () => Results.Ok(await Inspector(grains, source).EmbeddingsAsync())));
        inspect.MapGet("/neighbours", (string source, string? token, int? count, IGrainFactory grains) =>
            ApiRefusals.Guard(async () => Results.Ok(await Inspector(grains, source).NeighboursAsync(token ?? "", count ?? 10))));
        inspect.MapGet("/attention", (string source, string? prompt, IGrainFactory grains) =>
            ApiRefusals.Guard(async () => Results.Ok(await Inspector(grains, source).AttentionAsync(prompt ?? ""))));
        inspect.MapGet("/qkv", (string source, string? prompt, int? layer, int? head, int? token, IGrainFactory grains) =>
            ApiRefusals.Guard(async () => Results.Ok(await Inspector(grains, source).QkvAsync(prompt ?? "", layer ?? 0, head ?? 0, token ?? 0))));
        inspect.MapGet("/next", (string source, string? prompt, double? temperature, int? topK, double? topP, bool? greedy, long? seed, int? top, IGrainFactory grains) =>
            ApiRefusals.Guard(async () => Results.Ok(await Inspector(grains, source).NextTokenAsync(
                new GenerationRequest(prompt ?? "", temperature ?? 1.0, topK, topP, greedy ?? false, seed ?? 0), top ?? 10))));
        inspect.MapPost("/next", (string source, GenerationRequest request, int? top, IGrainFactory grains) =>
            ApiRefusals.Guard(async () => Results.Ok(await Inspector(grains, source).NextTokenAsync(request, top ?? 10))));
        inspect.MapGet("/lens", (string source, string? prompt, int? position, int? top, IGrainFactory grains) =>
            ApiRefusals.Guard(async () => Results.Ok(await Inspector(grains, source).LensAsync(prompt ?? "", position, top ?? 5))));
        inspect.MapGet("/training-token", (string source, long? step, int? position, int? top, IGrainFactory grains) =>
            ApiRefusals.Guard(async () => Results.Ok(await Inspector(grains, source).TrainingTokenAsync(step, position, top ?? 10))));
        inspect.MapGet("/architecture", (string source, IGrainFactory grains) =>
            ApiRefusals.Guard(async () => Results.Ok(await Inspector(grains, source).ArchitectureAsync())));
        return app;
    }

    /// <summary>
    /// The first token is awaited before anything is written, so bad input is still a 400; with <c>?stream=true</c> each
    /// token is then written as one JSON line (NDJSON) and flushed as it arrives.
    /// </summary>
    private static async Task GenerateAsync(string name, bool? stream, GenerationRequest request, IGrainFactory grains, HttpContext http)
    {
        var session = InferenceNames.SessionKey(name, Guid.NewGuid().ToString("N"));
        var tokens = grains.GetGrain<IGenerationGrain>(session).GenerateAsync(request).GetAsyncEnumerator(http.RequestAborted);
        await using (tokens)
        {
            bool any;
            try
            {
                any = await tokens.MoveNextAsync();
            }
            catch (ArgumentException e)
            {
                await Results.BadRequest(new ApiError(e.Message)).ExecuteAsync(http);
                return;
            }
            catch (InvalidOperationException e)
            {
                await Results.Conflict(new ApiError(e.Message)).ExecuteAsync(http);
                return;
            }

            var json = http.RequestServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions;
            if (stream != true)
            {
                var all = new List<GeneratedTokenInfo>();
                try
                {
                    for (var more = any; more; more = await tokens.MoveNextAsync())
                    {
                        all.Add(tokens.Current);
                    }
                }
                catch (InvalidOperationException e)
                {
                    await Results.Conflict(new ApiError(e.Message)).ExecuteAsync(http);
                    return;
                }

                await Results.Ok(all).ExecuteAsync(http);
                return;
            }

            http.Response.ContentType = "application/x-ndjson";
            try
            {
                for (var more = any; more; more = await tokens.MoveNextAsync())
                {
                    await http.Response.WriteAsync(JsonSerializer.Serialize(tokens.Current, json) + "\n", http.RequestAborted);
                    await http.Response.Body.FlushAsync(http.RequestAborted);
                }
            }
            catch (InvalidOperationException e)
            {
                // The status line is sent: the stream ends with one line that says why (the version was republished meanwhile).
                await http.Response.WriteAsync(JsonSerializer.Serialize(new ApiError(e.Message), json) + "\n", http.RequestAborted);
            }
        }
    }

    private static IInspectorGrain Inspector(IGrainFactory grains, string source) => grains.GetGrain<IInspectorGrain>(source);
}

/// <summary>What <c>POST /api/versions/{name}</c> takes: the run to publish from and, optionally, the inference stage count.</summary>
public sealed record PublishRequest(string? RunId, int? Stages = null, string? PpoRun = null);
