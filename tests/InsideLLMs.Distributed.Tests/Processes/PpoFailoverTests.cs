using System.Diagnostics;
using System.Globalization;
using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Rlhf;
using InsideLLMs.Distributed.Contracts.Training;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace InsideLLMs.Distributed.Tests.Processes;

/// <summary>
/// PPO survives <c>kill -9</c> like pre-training does: Redis and three silo processes, a PPO run whose four models are
/// grains spread over the silos, the silo holding the policy killed mid-way between two checkpoints. The run goes back
/// to its last checkpoint, every model is initialised again from grain storage on the survivors, and the run ends with
/// the metrics and the policy weights, bit for bit, of a run that was never interrupted. A SIGTERM (a scale-in) of that
/// silo instead loses no completed iteration: the leaving silo has the run checkpoint the iteration in flight first.
/// </summary>
[Collection(AloneCollection.Name)]
public sealed class PpoFailoverTests(RedisServerFixture redis, ITestOutputHelper output) : IClassFixture<RedisServerFixture>
{
    private const int CheckpointInterval = 4;

    private static readonly TimeSpan SiloStartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(120);

    private static readonly TrainingRunSpec Source = new()
    {
        Layers = 2, Heads = 2, Width = 32, Context = 64, Steps = 3, BatchSize = 4, LearningRate = 3e-3, MinLearningRate = 3e-4,
        WarmupSteps = 1, CheckpointInterval = 3, EvalInterval = 0, Seed = 41,
    };

    private static readonly PpoRunSpec Spec = new(
        "policy-source", "reward-source", Iterations: 24, Rollouts: 4, Epochs: 2, MiniBatches: 2, PolicyLearningRate: 1e-3, ValueLearningRate: 1e-3,
        KlCoefficient: 0.05, MaxCompletionTokens: 8, Seed: 9, CheckpointInterval: CheckpointInterval);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task KillOrTermOfTheSiloHoldingThePolicy_ThePpoRunResumesFromItsCheckpoint_AndEndsAsAnUninterruptedRun(bool terminate)
    {
        var clusterId = $"ppo-failover-{Guid.NewGuid():N}";
        var logs = Directory.CreateTempSubdirectory("insidellms-ppo-failover-").FullName;
        var siloAssembly = RepositoryPaths.SiloAssembly(typeof(PpoFailoverTests).Assembly);
        var configuration = ClusterRuns.SiloConfiguration(redis.ConnectionString, clusterId);
        var silos = new List<SiloProcess>();
        try
        {
            silos.AddRange(await Task.WhenAll(LocalPorts.FreeSiloInstances(3).Select(n => SiloProcess.StartAsync(siloAssembly, n, configuration, logs, SiloStartTimeout))));
            using var client = await ClusterRuns.StartClientAsync(redis.ConnectionString, clusterId);
            var grains = client.Services.GetRequiredService<IClusterClient>();
            var diagnostics = () => string.Join('\n', silos.Select(s => s.Tail()));
            await SourcesAsync(grains, diagnostics);

            var run = grains.GetGrain<IPpoRunGrain>("ppo-interrupted");
            var started = await run.StartAsync(Spec);
            output.WriteLine("models: " + string.Join(", ", started.Models.Select(m => $"{m.Role} on {m.Silo}")));
            var policySilo = started.Models.Single(m => m.Role == "policy").Silo;
            var victim = silos.Single(s => s.SiloPort == Port(policySilo));

            // Mid-way between two checkpoints after the first, so the rollback has iterations to redo.
            var status = await PollAsync(run, s => s.LastCheckpointIteration >= CheckpointInterval && s.Iteration % CheckpointInterval >= 2, diagnostics);
            var killedAt = DateTimeOffset.UtcNow;
            if (terminate)
            {
                var exited = await victim.TerminateAsync(TimeSpan.FromSeconds(60));
                output.WriteLine($"{killedAt:HH:mm:ss.fff} SIGTERM of silo {victim.Instance} (port {victim.SiloPort}, the policy's) at iteration {status.Iteration}, last checkpoint {status.LastCheckpointIteration}; it exited after {exited.TotalSeconds:F2} s");
                Assert.Contains("Leaving: PPO run ppo-interrupted checkpointed at iteration", victim.Tail(400), StringComparison.Ordinal);
            }
            else
            {
                victim.Kill();
                output.WriteLine($"{killedAt:HH:mm:ss.fff} kill -9 of silo {victim.Instance} (port {victim.SiloPort}, the policy's) at iteration {status.Iteration}, last checkpoint {status.LastCheckpointIteration}");
            }

            silos.Remove(victim);

            var final = await PollAsync(run, s => s.Phase is not (RunPhase.Starting or RunPhase.Running or RunPhase.Recovering), diagnostics);
            Assert.True(final.Phase == RunPhase.Completed, $"the PPO run ended {final.Phase}: {final.Error}\n{diagnostics()}");
            Assert.Equal(Enumerable.Range(1, Spec.Iterations), final.History.Select(h => h.Iteration));
            Assert.NotEmpty(final.Recoveries);
            foreach (var recovery in final.Recoveries)
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"recovery: failed at iteration {recovery.FailedAtStep}, resumed from {recovery.ResumedFromStep}, {recovery.SecondsToResume:F2} s after detection ({recovery.Cause})"));
                Assert.InRange(recovery.FailedAtStep - recovery.ResumedFromStep, 0, CheckpointInterval);
                if (terminate)
                {
                    // The leave checkpoint is at the end of the iteration in flight at the signal: nothing completed is redone.
                    Assert.True(recovery.ResumedFromStep >= status.Iteration, $"after SIGTERM at iteration {status.Iteration} the run resumed from {recovery.ResumedFromStep}");
                }
            }

            Assert.DoesNotContain(final.Models, m => Port(m.Silo) == victim.SiloPort);
            output.WriteLine("models after: " + string.Join(", ", final.Models.Select(m => $"{m.Role} on {m.Silo}")));

            var reference = grains.GetGrain<IPpoRunGrain>("ppo-uninterrupted");
            await reference.StartAsync(Spec);
            var uninterrupted = await PollAsync(reference, s => s.Phase is not (RunPhase.Starting or RunPhase.Running or RunPhase.Recovering), diagnostics);
            Assert.True(uninterrupted.Phase == RunPhase.Completed, $"the uninterrupted PPO run ended {uninterrupted.Phase}: {uninterrupted.Error}");
            Assert.Empty(uninterrupted.Recoveries);
            for (var i = 0; i < Spec.Iterations; i++)
            {
                var (want, got) = (uninterrupted.History[i], final.History[i]);
                Assert.True(want with { GenerationSeconds = 0, RewardSeconds = 0, ReferenceSeconds = 0, ValueSeconds = 0, UpdateSeconds = 0, WallSeconds = 0 }
                    == got with { GenerationSeconds = 0, RewardSeconds = 0, ReferenceSeconds = 0, ValueSeconds = 0, UpdateSeconds = 0, WallSeconds = 0 },
                    $"iteration {i + 1}: {want} against {got}");
            }

            var (identical, total, worst) = ClusterRuns.Compare(await reference.GetPolicyParametersAsync(), await run.GetPolicyParametersAsync());
            output.WriteLine($"policy weights against the uninterrupted run: {identical}/{total} tensors bit-identical, largest difference {worst:E2}");
            Assert.True(identical == total, $"{total - identical} tensors differ from the uninterrupted run (largest difference {worst:E2})");
        }
        finally
        {
            foreach (var silo in silos)
            {
                await silo.DisposeAsync();
            }
        }
    }

    private static int Port(string siloAddress) => int.Parse(siloAddress.TrimStart('S').Split(':')[1], CultureInfo.InvariantCulture);

    /// <summary>The policy's source (a tiny language model, published) and the reward model trained from it on built-in rankings.</summary>
    private async Task SourcesAsync(IClusterClient grains, Func<string> diagnostics)
    {
        var clock = Stopwatch.StartNew();
        await TrainAsync(grains.GetGrain<ITrainingRunGrain>(Spec.PolicyRun), Source, diagnostics);
        await grains.GetGrain<IModelVersionGrain>("policy-source").PublishAsync(Spec.PolicyRun, stages: 1);
        await TrainAsync(grains.GetGrain<ITrainingRunGrain>(Spec.RewardRun), Source with { Objective = "reward", InitFrom = "policy-source", RankingCompletions = 4, Seed = 42 }, diagnostics);
        output.WriteLine($"source runs trained and published in {clock.Elapsed.TotalSeconds:F1} s");
    }

    private static async Task TrainAsync(ITrainingRunGrain run, TrainingRunSpec spec, Func<string> diagnostics)
    {
        await run.StartAsync(spec);
        var status = await ClusterRuns.PollUntilAsync(run, s => s.Phase is not (RunPhase.Starting or RunPhase.Running or RunPhase.Recovering), RunTimeout, diagnostics);
        Assert.True(status.Phase == RunPhase.Completed, $"source run ended {status.Phase}: {status.Error}");
    }

    /// <summary>Polls the PPO run's status until <paramref name="done"/>; a call that fails during the failover is polled again.</summary>
    private static async Task<PpoRunStatus> PollAsync(IPpoRunGrain run, Func<PpoRunStatus, bool> done, Func<string> diagnostics)
    {
        var deadline = DateTime.UtcNow + RunTimeout;
        PpoRunStatus? status = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                status = await run.GetStatusAsync();
                if (done(status))
                {
                    return status;
                }
            }
            catch (Exception e) when (e is OrleansException or TimeoutException or SiloUnavailableException)
            {
                // the run's grain is being moved
            }

            await Task.Delay(50);
        }

        Assert.Fail($"PPO run still {status?.Phase} at iteration {status?.Iteration} after {RunTimeout.TotalSeconds} s\n{diagnostics()}");
        return null!;
    }
}
