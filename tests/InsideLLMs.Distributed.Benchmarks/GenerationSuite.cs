using System.Diagnostics;
using System.Globalization;
using InsideLLMs.Distributed.Contracts;
using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Grains.Inference;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Tests.Processes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Runtime.Placement;
using Orleans.TestingHost;
using TorchSharp;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Benchmarks;

/// <summary>
/// Generation through the inference grains: time to first token, tokens/s, and the per-token latency at position 10 and
/// at position 200 with the stages' KV caches, against a pass over the whole context without a cache (the same model in
/// this process). Measured on one in-process silo, then on two silo processes (<c>--instance 0</c> and <c>1</c>,
/// localhost clustering) where the same run, trained there for one step, is published twice: once with every stage on
/// instance 0 (one process, reached through its gateway) and once with stage s on instance s mod 2 (every token crosses
/// between the processes). The model is the default shape (4 x 4 x 128) with a context of 256, trained for one step:
/// latency does not depend on the weights.
/// Usage: dotnet run -c Release --project tests/InsideLLMs.Distributed.Benchmarks -- generation [--stages P] [--threads N] [--process-threads N] [--repeats N]
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
        // Two processes' OpenMP pools on 2 cores spin against each other (measured: 10-16 ms a token with 2 threads each,
        // 1.1-1.3 ms with 1 each), so by default each silo process gets half the in-process silo's threads.
        var processThreads = IntOption(args, "--process-threads") ?? Math.Max(1, threads / 2);
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

        var inProcess = await MeasureAsync(grains, Version, repeats);
        var (model, _) = await WholeModelAsync(grains);
        double cached10, cached200, full10, full200;
        using (model)
        {
            torch.set_num_threads(threads);
            (cached10, full10) = InProcess(model, 10, repeats);
            (cached200, full200) = InProcess(model, 200, repeats);
        }

        await cluster.StopAllSilosAsync();
        var (oneProcess, twoProcesses, placements) = await MeasureOnTwoSiloProcessesAsync(spec, stages, processThreads, repeats);
        foreach (var placement in placements)
        {
            Console.WriteLine(placement);
        }

        var c = CultureInfo.InvariantCulture;
        var columns = new[] { inProcess, oneProcess, twoProcesses };
        string Each(Func<Figures, string> cell) => string.Join(" | ", columns.Select(cell));
        var rows = new List<(string, string)>
        {
            (string.Create(c, $"time to first token (prompt of {inProcess.PromptTokens} tokens, client to client)"), Each(f => string.Create(c, $"{f.FirstTokenMilliseconds:F1} ms"))),
            ("tokens/s, one session, to the end of the context", Each(f => string.Create(c, $"{f.TokensPerSecond:F1}"))),
            ("gap between tokens at the generation grain, all positions: median / 90th / 99th percentile / max",
                Each(f => string.Join(" / ", f.GapPercentiles.Select(g => g.ToString("F2", c))) + " ms")),
            ("per-token latency through the stage grains, KV cache, position 10", Each(f => string.Create(c, $"{f.LatencyAt10:F2} ms"))),
            ("per-token latency through the stage grains, KV cache, position 200", Each(f => string.Create(c, $"{f.LatencyAt200:F2} ms"))),
            ("no cache in process vs cached stage grains at position 200", Each(f => string.Create(c, $"{full200 / f.LatencyAt200:F1}x"))),
            ("in process, KV cache: one token at position 10 / 200", string.Create(c, $"{cached10:F2} / {cached200:F2} ms | - | -")),
            ("in process, no cache: the whole context up to position 10 / 200", string.Create(c, $"{full10:F2} / {full200:F2} ms | - | -")),
            ("speedup of the cache in process at position 10 / 200", string.Create(c, $"{full10 / cached10:F1}x / {full200 / cached200:F1}x | - | -")),
        };
        Console.WriteLine();
        Console.WriteLine(
            $"| figure (median of {repeats}) | 1 silo, in process, {threads} threads | 1 silo process (all {stages} stages on instance 0), {processThreads} thread(s) | " +
            $"2 silo processes (stage s on instance s mod 2), {processThreads} thread(s) each |");
        Console.WriteLine("|---|---|---|---|");
        foreach (var (figure, value) in rows)
        {
            Console.WriteLine($"| {figure} | {value} |");
        }

        return 0;
    }

    /// <summary>The figures of one host: client-side time to first token, tokens/s, per-token latency at positions 10 and 200.</summary>
    private sealed record Figures(
        int PromptTokens, double FirstTokenMilliseconds, double TokensPerSecond, double LatencyAt10, double LatencyAt200, double[] GapPercentiles);

    /// <summary>A warm-up generation (loads the stages, JIT), then <paramref name="repeats"/> greedy generations to the end of the context.</summary>
    private static async Task<Figures> MeasureAsync(IGrainFactory grains, string version, int repeats, SiloAddress? sessionSilo = null)
    {
        await GenerateAsync(grains, version, new GenerationRequest(Prompt, Greedy: true, MaxTokens: 16), sessionSilo);
        var firstTokens = new List<double>();
        var rates = new List<double>();
        var at10 = new List<double>();
        var at200 = new List<double>();
        var promptTokens = 0;
        var gaps = new List<double>();
        for (var r = 0; r < repeats; r++)
        {
            var (clientFirst, tokens) = await GenerateAsync(grains, version, new GenerationRequest(Prompt, Greedy: true, MaxTokens: 1000), sessionSilo);
            gaps.AddRange(tokens.Zip(tokens.Skip(1), (a, b) => b.ElapsedMilliseconds - a.ElapsedMilliseconds));
            firstTokens.Add(clientFirst);
            promptTokens = tokens[0].Position + 1;
            rates.Add((tokens.Count - 1) / ((tokens[^1].ElapsedMilliseconds - tokens[0].ElapsedMilliseconds) / 1000));
            at10.Add(Latency(tokens, 10));
            at200.Add(Latency(tokens, 200));
        }

        var sorted = gaps.Order().ToArray();
        return new Figures(promptTokens, Median(firstTokens), Median(rates), Median(at10), Median(at200),
            [.. new[] { 0.5, 0.9, 0.99 }.Select(q => sorted[(int)(q * (sorted.Length - 1))]), sorted[^1]]);
    }

    /// <summary>
    /// Two silo processes with the same thread budget each as the in-process silo (one stage computes at a time): the run
    /// trained there for one step, published as a version with every stage on instance 0 and as one with stage s on
    /// instance s mod 2, each measured with its generation sessions on instance 0.
    /// </summary>
    private static async Task<(Figures OneProcess, Figures TwoProcesses, List<string> Placements)> MeasureOnTwoSiloProcessesAsync(
        TrainingRunSpec spec, int stages, int threads, int repeats)
    {
        var busy = new[] { 0, 1 }.SelectMany(SiloProcess.PortsOf).Where(p => !LocalPorts.IsFree(p)).ToArray();
        if (busy.Length > 0)
        {
            throw new InvalidOperationException($"Ports {string.Join(", ", busy)} are taken: stop the local silos (--instance 0 and 1) first.");
        }

        var configuration = new Dictionary<string, string>
        {
            ["Compute:Workers"] = "1",
            ["Compute:TorchThreadsPerWorker"] = threads.ToString(CultureInfo.InvariantCulture),
        };
        var siloAssembly = RepositoryPaths.SiloAssembly(typeof(GenerationSuite).Assembly);
        var logs = Directory.CreateTempSubdirectory("insidellms-bench-").FullName;
        await using var primary = await SiloProcess.StartAsync(siloAssembly, 0, configuration, logs, TimeSpan.FromSeconds(60));
        await using var secondary = await SiloProcess.StartAsync(siloAssembly, 1, configuration, logs, TimeSpan.FromSeconds(60));
        using var client = new HostBuilder()
            .UseOrleansClient(c => c.UseLocalhostClustering([primary.GatewayPort, secondary.GatewayPort], ClusterNames.ServiceId, ClusterNames.ClusterId))
            .Build();
        await client.StartAsync();
        var grains = client.Services.GetRequiredService<IClusterClient>();
        var silos = await ActiveSilosAsync(grains, 2);

        var run = grains.GetGrain<ITrainingRunGrain>("bench");
        await run.StartAsync(spec);
        RunStatus status;
        while ((status = await run.GetStatusAsync()).Phase is RunPhase.Starting or RunPhase.Running)
        {
            await Task.Delay(100);
        }

        if (status.Phase != RunPhase.Completed)
        {
            throw new InvalidOperationException($"The benchmark run ended {status.Phase}: {status.Error}");
        }

        const string OneProcessVersion = "bench-one-process";
        const string TwoProcessesVersion = "bench-two-processes";
        var placements = new List<string>
        {
            await PublishPinnedAsync(grains, OneProcessVersion, stages, _ => silos[0]),
            await PublishPinnedAsync(grains, TwoProcessesVersion, stages, s => silos[s % silos.Length]),
        };
        var oneProcess = await MeasureAsync(grains, OneProcessVersion, repeats, silos[0]);
        var twoProcesses = await MeasureAsync(grains, TwoProcessesVersion, repeats, silos[0]);
        await client.StopAsync();
        return (oneProcess, twoProcesses, placements);
    }

    /// <summary>
    /// Publishes the run as <paramref name="version"/> and activates its stages last to first, each with Orleans'
    /// placement hint for the silo <paramref name="siloOf"/> names; returns where each stage says it runs.
    /// </summary>
    private static async Task<string> PublishPinnedAsync(IGrainFactory grains, string version, int stages, Func<int, SiloAddress> siloOf)
    {
        await grains.GetGrain<IModelVersionGrain>(version).PublishAsync("bench", stages);
        var where = new List<string>();
        for (var stage = stages - 1; stage >= 0; stage--)
        {
            RequestContext.Set(IPlacementDirector.PlacementHintKey, siloOf(stage));
            try
            {
                var info = await grains.GetGrain<IInferenceStageGrain>(InferenceNames.StageKey(version, stage)).DescribeAsync();
                if (info.Silo != siloOf(stage).ToString() && !info.Silo.Contains(siloOf(stage).Endpoint.ToString(), StringComparison.Ordinal))
                {
                    throw new InvalidOperationException($"Stage {stage} of {version} runs on {info.Silo}, not on {siloOf(stage)} as hinted.");
                }

                where.Insert(0, $"stage {stage} on {info.Silo}");
            }
            finally
            {
                RequestContext.Remove(IPlacementDirector.PlacementHintKey);
            }
        }

        return $"{version}: {string.Join(", ", where)}";
    }

    /// <summary>The active silos in silo-port order (instance 0 first), once there are <paramref name="count"/>.</summary>
    private static async Task<SiloAddress[]> ActiveSilosAsync(IGrainFactory grains, int count)
    {
        var management = grains.GetGrain<IManagementGrain>(0);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var hosts = await management.GetHosts(onlyActive: true);
            if (hosts.Count >= count)
            {
                return [.. hosts.Keys.OrderBy(s => s.Endpoint.Port)];
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The cluster did not reach {count} active silos.");
            }

            await Task.Delay(200);
        }
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

    /// <summary>One generation, timed at the client; <paramref name="sessionSilo"/> hints where the session grain is placed.</summary>
    private static async Task<(double FirstMilliseconds, List<GeneratedTokenInfo> Tokens)> GenerateAsync(
        IGrainFactory grains, string version, GenerationRequest request, SiloAddress? sessionSilo = null)
    {
        var session = grains.GetGrain<IGenerationGrain>(InferenceNames.SessionKey(version, Guid.NewGuid().ToString("N")));
        var started = Stopwatch.GetTimestamp();
        double first = 0;
        var tokens = new List<GeneratedTokenInfo>();
        if (sessionSilo is not null)
        {
            RequestContext.Set(IPlacementDirector.PlacementHintKey, sessionSilo);
        }

        try
        {
            await foreach (var token in session.GenerateAsync(request))
            {
                if (tokens.Count == 0)
                {
                    first = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                }

                tokens.Add(token);
            }
        }
        finally
        {
            RequestContext.Remove(IPlacementDirector.PlacementHintKey);
        }

        return (first, tokens);
    }

    private static async Task<(GptStage Model, int Vocabulary)> WholeModelAsync(IGrainFactory grains)
    {
        var version = grains.GetGrain<IModelVersionGrain>(Version);
        var info = await version.GetInfoAsync();
        var config = TrainingRunSpecs.Model(info.Spec, info.VocabularySize);
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
