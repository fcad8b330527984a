using System.Globalization;
using InsideLLMs.Distributed.Contracts;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Maths.Training;
using InsideLLMs.Distributed.Tests.Processes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.TestingHost;

namespace InsideLLMs.Distributed.Benchmarks;

/// <summary>
/// Distributed training against the reference trainer with the same thread budget (2 libtorch threads): (P,R,M) =
/// (2,1,4) and (2,2,4) with 1F1B, on one in-process silo with two compute workers and on two silo processes with one
/// worker each. Per layout: tokens/s and its ratio to the reference, the step time split, and the measured bubble per
/// stage next to the predicted (P-1)/(M+P-1). Steps 1..warm-up are left out (first steps allocate).
/// </summary>
internal static class DistributedBenchmark
{
    private const int WarmupSteps = 5;
    private const int ThreadBudget = 2;

    private static readonly (int Stages, int Replicas, int MicroBatches)[] Layouts = [(2, 1, 4), (2, 2, 4)];

    private sealed record Row(string Layout, string Host, double TokensPerSecond, double ReferenceTokensPerSecond, StepMetrics[] Steps, string Placement, double PredictedBubble);

    public static async Task RunAsync(List<(string, string, string)> results, int timedSteps)
    {
        var specs = Layouts.Select(l => Spec(l.Stages, l.Replicas, l.MicroBatches, timedSteps)).ToArray();
        var datasets = new DatasetCache();
        // Thrown away: the first trainer in a process ran at a third of its later speed (libtorch and OpenMP start-up).
        ReferenceTokensPerSecond(specs[0], datasets, WarmupSteps);
        var reference = specs.Select(s => ReferenceTokensPerSecond(s, datasets, timedSteps)).ToArray();
        var rows = new List<Row>();

        Console.WriteLine($"[distributed] one in-process silo, {ThreadBudget} compute workers x 1 thread");
        await using (var cluster = OneSilo(ThreadBudget))
        {
            await cluster.DeployAsync();
            for (var i = 0; i < specs.Length; i++)
            {
                rows.Add(await MeasureAsync(cluster.Client, $"one-{i}", specs[i], "1 silo (in-process)", reference[i]));
            }
        }

        Console.WriteLine("[distributed] two silo processes (--instance 0 and 1, localhost clustering), 1 compute worker x 1 thread each");
        var siloAssembly = RepositoryPaths.SiloAssembly(typeof(DistributedBenchmark).Assembly);
        var busy = new[] { 0, 1 }.SelectMany(SiloProcess.PortsOf).Where(p => !LocalPorts.IsFree(p)).ToArray();
        if (busy.Length > 0)
        {
            throw new InvalidOperationException($"Ports {string.Join(", ", busy)} are taken: stop the local silos (--instance 0 and 1) first.");
        }

        var configuration = new Dictionary<string, string>
        {
            ["Compute:Workers"] = "1",
            ["Compute:TorchThreadsPerWorker"] = "1",
        };
        var logs = Directory.CreateTempSubdirectory("insidellms-bench-").FullName;
        await using (var primary = await SiloProcess.StartAsync(siloAssembly, 0, configuration, logs, TimeSpan.FromSeconds(60)))
        await using (var secondary = await SiloProcess.StartAsync(siloAssembly, 1, configuration, logs, TimeSpan.FromSeconds(60)))
        {
            using var client = new HostBuilder()
                .UseOrleansClient(c => c.UseLocalhostClustering(
                    [primary.GatewayPort, secondary.GatewayPort], ClusterNames.ServiceId, ClusterNames.ClusterId))
                .Build();
            await client.StartAsync();
            var grains = client.Services.GetRequiredService<IClusterClient>();
            await WaitForSilosAsync(grains, 2);
            for (var i = 0; i < specs.Length; i++)
            {
                rows.Add(await MeasureAsync(grains, $"two-{i}-{Guid.NewGuid():N}", specs[i], "2 silo processes", reference[i]));
            }

            await client.StopAsync();
        }

        Print(rows);
        foreach (var row in rows)
        {
            results.Add(("distributed", $"{row.Layout} {row.Host}: tokens/s (x reference)", $"{F(row.TokensPerSecond, 0)} ({F(row.TokensPerSecond / row.ReferenceTokensPerSecond, 2)})"));
        }
    }

    /// <summary>One in-process silo with memory storage and <paramref name="workers"/> compute workers of one libtorch thread each (not yet deployed).</summary>
    internal static InProcessTestCluster OneSilo(int workers)
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddMemoryGrainStorage(TrainingStorage.ProviderName);
            silo.Services.AddSingleton(new ComputeOptions { Workers = workers, TorchThreadsPerWorker = 1 });
            silo.Services.AddTrainingServices();
        });
        return builder.Build();
    }

    private static TrainingRunSpec Spec(int stages, int replicas, int microBatches, int timedSteps) => new()
    {
        // The synthetic preset's model: big enough that compute, not messaging, dominates a step.
        Corpus = TrainingPreset.SyntheticCorpusName, Layers = 4, Heads = 4, Width = 128, Context = 64, BatchSize = 4,
        Stages = stages, Replicas = replicas, MicroBatches = microBatches, Schedule = "1f1b",
        Steps = WarmupSteps + timedSteps, CheckpointInterval = 0, EvalInterval = 0, Seed = 1337,
    };

    /// <summary>The reference trainer on the same global batch (M x R micro-batches a step) with the whole budget.</summary>
    private static double ReferenceTokensPerSecond(TrainingRunSpec spec, DatasetCache datasets, int timedSteps)
    {
        var data = datasets.Get(spec);
        using var trainer = new ReferenceTrainer(TrainingRunSpecs.Model(spec, data), data, TrainingRunSpecs.Reference(spec) with { Threads = ThreadBudget });
        for (var i = 0; i < WarmupSteps; i++)
        {
            trainer.TrainStep();
        }

        var time = TimeSpan.Zero;
        long tokens = 0;
        for (var i = 0; i < timedSteps; i++)
        {
            var step = trainer.TrainStep();
            time += step.Duration;
            tokens += step.Tokens;
        }

        var tokensPerSecond = tokens / time.TotalSeconds;
        Console.WriteLine($"[distributed] reference trainer, global batch {spec.BatchSize * spec.MicroBatches * spec.Replicas} x {spec.Context}, {ThreadBudget} threads: {tokensPerSecond:F0} tokens/s");
        return tokensPerSecond;
    }

    private static async Task<Row> MeasureAsync(IGrainFactory grains, string runId, TrainingRunSpec spec, string host, double referenceTokensPerSecond)
    {
        var run = grains.GetGrain<ITrainingRunGrain>(runId);
        await run.StartAsync(spec);
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(10);
        RunStatus status;
        while ((status = await run.GetStatusAsync()).Phase is RunPhase.Starting or RunPhase.Running or RunPhase.Recovering)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Run {runId} still {status.Phase} at step {status.Step}.");
            }

            await Task.Delay(100);
        }

        if (status.Phase != RunPhase.Completed)
        {
            throw new InvalidOperationException($"Run {runId} ended {status.Phase}: {status.Error}");
        }

        var steps = (await run.GetHistoryAsync(WarmupSteps)).ToArray();
        var tokens = (double)spec.BatchSize * spec.MicroBatches * spec.Replicas * spec.Context * steps.Length;
        var placement = string.Join(", ", (await run.GetTraceAsync())
            .GroupBy(s => (s.Replica, s.Stage)).OrderBy(g => g.Key)
            .Select(g => $"r{g.Key.Replica}s{g.Key.Stage}@{g.First().Silo.Split(':')[1]}"));
        var predicted = (spec.Stages - 1.0) / (spec.MicroBatches + spec.Stages - 1);
        var row = new Row($"({spec.Stages},{spec.Replicas},{spec.MicroBatches}) 1f1b", host, tokens / steps.Sum(m => m.Seconds), referenceTokensPerSecond, steps, placement, predicted);
        Console.WriteLine($"[distributed] {row.Layout} on {host}: {row.TokensPerSecond:F0} tokens/s over {steps.Length} steps; stages at silo port {placement}");
        return row;
    }

    private static async Task WaitForSilosAsync(IGrainFactory grains, int count)
    {
        var management = grains.GetGrain<IManagementGrain>(0);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while ((await management.GetHosts(onlyActive: true)).Count < count)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The cluster did not reach {count} active silos.");
            }

            await Task.Delay(200);
        }
    }

    private static void Print(List<Row> rows)
    {
        Console.WriteLine();
        Console.WriteLine($"Distributed training, synthetic model 4 layers x 4 heads x 128, context 64, 4 rows per micro-batch; budget {ThreadBudget} libtorch threads; {rows[0].Steps.Length} timed steps after {WarmupSteps} warm-up");
        Console.WriteLine($"{"layout",-16} {"host",-20} {"tokens/s",9} {"reference",9} {"ratio",6} {"step ms",8} {"compute",8} {"messag.",8} {"bubble",8} {"optim.",8}  bubble per stage (textbook; simulated with each stage's measured F and B times)");
        foreach (var row in rows)
        {
            var s = row.Steps;
            var perStage = Enumerable.Range(0, s[0].StageBubbleFractions.Count).Select(i => s.Average(m => m.StageBubbleFractions[i]));
            var simulated = Enumerable.Range(0, s[0].PredictedBubbleFractions?.Count ?? 0).Select(i => s.Average(m => m.PredictedBubbleFractions![i]));
            Console.WriteLine(
                $"{row.Layout,-16} {row.Host,-20} {F(row.TokensPerSecond, 0),9} {F(row.ReferenceTokensPerSecond, 0),9} {F(row.TokensPerSecond / row.ReferenceTokensPerSecond, 2),6} " +
                $"{Ms(s.Average(m => m.Seconds)),8} {Ms(s.Average(m => m.ComputeSeconds)),8} {Ms(s.Average(m => m.MessagingSeconds)),8} " +
                $"{Ms(s.Average(m => m.BubbleSeconds)),8} {Ms(s.Average(m => m.OptimizerSeconds)),8}  " +
                $"{string.Join(" / ", perStage.Select(b => F(b, 3)))} ({F(row.PredictedBubble, 3)}; {string.Join(" / ", simulated.Select(b => F(b, 3)))})");
        }

        Console.WriteLine("compute / messaging / bubble: per stage, mean over stages and replicas (stages overlap, so they do not add up to the step); optimizer: mean AdamW step.");
    }

    private static string Ms(double seconds) => F(seconds * 1000, 1);

    private static string F(double value, int decimals) => value.ToString("F" + decimals, CultureInfo.InvariantCulture);
}
