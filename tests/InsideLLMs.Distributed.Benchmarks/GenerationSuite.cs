using System.Diagnostics;
using System.Globalization;
using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Grains.Inference;
using InsideLLMs.Distributed.Grains.Model;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using TorchSharp;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Benchmarks;

/// <summary>
/// Generation through the inference grains on one in-process silo: time to first token, tokens/s, and the per-token
/// latency at position 10 and at position 200 with the stages' KV caches, against a pass over the whole context
/// without a cache (the same model in this process). The model is the default shape (4 x 4 x 128) with a context of
/// 256, trained for one step: latency does not depend on the weights.
/// Usage: dotnet run -c Release --project tests/InsideLLMs.Distributed.Benchmarks -- generation [--stages P] [--threads N] [--repeats N]
/// </summary>
internal static class GenerationSuite
{
    private const string Version = "bench";
    private const string Prompt = " the cat went to the river. later she";

    public static async Task<int> RunAsync(string[] args)
    {
        var stages = IntOption(args, "--stages") ?? 2;
        var threads = IntOption(args, "--threads") ?? Environment.ProcessorCount;
        var repeats = IntOption(args, "--repeats") ?? 3;
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddMemoryGrainStorage(TrainingStorage.ProviderName);
            silo.Services.AddSingleton(new ComputeOptions { Workers = 1, TorchThreadsPerWorker = threads });
            silo.Services.AddTrainingServices();
        });
        await using var cluster = builder.Build();
        await cluster.DeployAsync();
        var grains = cluster.Client;
        var spec = new TrainingRunSpec { Context = 256, Steps = 1, BatchSize = 2, Stages = stages, CheckpointInterval = 0, EvalInterval = 0 };
        var run = grains.GetGrain<ITrainingRunGrain>("bench");
        await run.StartAsync(spec);
        while ((await run.GetStatusAsync()).Phase is RunPhase.Starting or RunPhase.Running)
        {
            await Task.Delay(100);
        }

        var info = await grains.GetGrain<IModelVersionGrain>(Version).PublishAsync("bench", stages);
        Console.WriteLine($"model: {spec.Layers} layers x {spec.Heads} heads x {spec.Width}, context {spec.Context}, vocabulary {info.VocabularySize}, {info.ParameterCount:N0} parameters, {info.Stages} inference stages on one silo, {threads} libtorch threads");

        // Warm-up (loads the stages, JIT), then timed generations to the end of the context.
        await GenerateAsync(grains, new GenerationRequest(Prompt, Greedy: true, MaxTokens: 16));
        var firstTokens = new List<double>();
        var rates = new List<double>();
        var at10 = new List<double>();
        var at200 = new List<double>();
        var promptTokens = 0;
        for (var r = 0; r < repeats; r++)
        {
            var (clientFirst, tokens) = await GenerateAsync(grains, new GenerationRequest(Prompt, Greedy: true, MaxTokens: 1000));
            firstTokens.Add(clientFirst);
            promptTokens = tokens[0].Position + 1;
            rates.Add((tokens.Count - 1) / ((tokens[^1].ElapsedMilliseconds - tokens[0].ElapsedMilliseconds) / 1000));
            at10.Add(Latency(tokens, 10));
            at200.Add(Latency(tokens, 200));
        }

        var (model, _) = await WholeModelAsync(grains);
        double cached10, cached200, full10, full200;
        using (model)
        {
            torch.set_num_threads(threads);
            (cached10, full10) = InProcess(model, 10, repeats);
            (cached200, full200) = InProcess(model, 200, repeats);
        }

        var c = CultureInfo.InvariantCulture;
        var rows = new List<(string, string)>
        {
            (string.Create(c, $"time to first token (prompt of {promptTokens} tokens, client to client)"), string.Create(c, $"{Median(firstTokens):F1} ms")),
            ("tokens/s, one session, to the end of the context", string.Create(c, $"{Median(rates):F1}")),
            ("per-token latency through the stage grains, KV cache, position 10", string.Create(c, $"{Median(at10):F2} ms")),
            ("per-token latency through the stage grains, KV cache, position 200", string.Create(c, $"{Median(at200):F2} ms")),
            ("in process, KV cache: one token at position 10 / 200", string.Create(c, $"{cached10:F2} / {cached200:F2} ms")),
            ("in process, no cache: the whole context up to position 10 / 200", string.Create(c, $"{full10:F2} / {full200:F2} ms")),
            ("speedup of the cache in process at position 10 / 200", string.Create(c, $"{full10 / cached10:F1}x / {full200 / cached200:F1}x")),
            ("no cache in process vs cached stage grains at position 200", string.Create(c, $"{full200 / Median(at200):F1}x")),
        };
        Console.WriteLine();
        Console.WriteLine($"| figure (median of {repeats}) | value |");
        Console.WriteLine("|---|---|");
        foreach (var (figure, value) in rows)
        {
            Console.WriteLine($"| {figure} | {value} |");
        }

        return 0;
    }

    /// <summary>Mean gap between consecutive tokens predicted from positions p-2..p+2: the time of one single-position pass.</summary>
    private static double Latency(List<GeneratedTokenInfo> tokens, int position)
    {
        var gaps = tokens.Zip(tokens.Skip(1)).Where(p => Math.Abs(p.Second.Position - position) <= 2)
            .Select(p => p.Second.ElapsedMilliseconds - p.First.ElapsedMilliseconds).ToList();
        return gaps.Count == 0 ? double.NaN : gaps.Average();
    }

    /// <summary>Median time of one cached single-token forward at <paramref name="position"/>, and of a forward over positions 0..position without a cache.</summary>
    private static (double Cached, double Full) InProcess(GptStage model, int position, int repeats)
    {
        var tokens = Enumerable.Range(0, position + 1).Select(i => (long)(2 + i % 50)).ToArray();
        var cached = new List<double>();
        var full = new List<double>();
        for (var r = 0; r < repeats * 5; r++)
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            using var cache = new KvCache();
            model.Forward(tensor(tokens[..position], [1, position], dtype: ScalarType.Int64), cache: cache);
            var started = Stopwatch.GetTimestamp();
            model.Forward(tensor(tokens[position..], [1, 1], dtype: ScalarType.Int64), cache: cache);
            cached.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            started = Stopwatch.GetTimestamp();
            model.Forward(tensor(tokens, [1, tokens.Length], dtype: ScalarType.Int64));
            full.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        return (Median(cached), Median(full));
    }

    private static async Task<(double FirstMilliseconds, List<GeneratedTokenInfo> Tokens)> GenerateAsync(IGrainFactory grains, GenerationRequest request)
    {
        var started = Stopwatch.GetTimestamp();
        double first = 0;
        var tokens = new List<GeneratedTokenInfo>();
        await foreach (var token in grains.GetGrain<IGenerationGrain>(InferenceNames.SessionKey(Version, Guid.NewGuid().ToString("N"))).GenerateAsync(request))
        {
            if (tokens.Count == 0)
            {
                first = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }

            tokens.Add(token);
        }

        return (first, tokens);
    }

    private static async Task<(GptStage Model, int Vocabulary)> WholeModelAsync(IGrainFactory grains)
    {
        var version = grains.GetGrain<IModelVersionGrain>(Version);
        var info = await version.GetInfoAsync();
        var config = TrainingSpecs.Model(info.Spec, info.VocabularySize);
        return (InferenceModels.Build(config, StageSpec.Whole(config), await version.GetParametersAsync()), info.VocabularySize);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    private static int? IntOption(string[] args, string name)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : null;
    }
}
