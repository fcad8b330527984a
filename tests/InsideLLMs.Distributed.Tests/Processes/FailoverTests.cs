using System.Diagnostics;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text.Json;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Training;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace InsideLLMs.Distributed.Tests.Processes;

/// <summary>
/// Real failover: Redis and three silo processes, a run in progress, <c>kill -9</c> of a silo holding some of its
/// stages, or of the silo holding its run grain. The run must roll back to its last consistent checkpoint and finish
/// by itself, with weights bit-identical to a run that was never interrupted. And SIGTERM of a silo holding stages (a
/// scale-in): the run checkpoints at the step in flight before the silo leaves, so no step is lost.
/// </summary>
[Collection(AloneCollection.Name)]
public sealed class FailoverTests(RedisServerFixture redis, ITestOutputHelper output) : IClassFixture<RedisServerFixture>
{
    private const int CheckpointInterval = 5;

    private static readonly TimeSpan SiloStartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(90);

    private static TrainingRunSpec Spec => new()
    {
        Layers = 4, Heads = 2, Width = 32, Context = 32, BatchSize = 4, Stages = 2, Replicas = 2, MicroBatches = 2,
        Schedule = "1f1b", Steps = 40, LearningRate = 3e-3, MinLearningRate = 3e-4, WarmupSteps = 5,
        CheckpointInterval = CheckpointInterval, EvalInterval = 0, Seed = 21,
    };

    /// <summary>Long enough (about 20 s) that the run is still going when a silo started at step 7 has joined.</summary>
    private static TrainingRunSpec JoinSpec => Spec with { Steps = 200 };

    [Fact]
    public Task KillNineOfASiloHoldingStages_RunResumesFromItsCheckpoint_AndEndsWithTheUninterruptedWeights() =>
        KillNineAndRecoverAsync(killTheRunGrainsSilo: false);

    /// <summary>
    /// The silo holding the run grain dies: nothing is left to notice the lost stages but the supervisor, which wakes the
    /// run on a surviving silo; the new activation resumes from the last consistent checkpoint.
    /// </summary>
    [Fact]
    public Task KillNineOfTheSiloHoldingTheRunGrain_TheSupervisorResumesTheRun_AndItEndsWithTheUninterruptedWeights() =>
        KillNineAndRecoverAsync(killTheRunGrainsSilo: true);

    /// <summary>
    /// Scale-in: SIGTERM of a silo holding stages, mid-way between two periodic checkpoints. The silo has the run save a
    /// checkpoint at the end of the step in flight before it leaves, so the rollback resumes at or after the step the run
    /// had reached, and the run ends with the uninterrupted weights.
    /// </summary>
    [Fact]
    public Task SigTermOfASiloHoldingStages_TheRunCheckpointsBeforeItLeaves_AndLosesNoStep() =>
        KillNineAndRecoverAsync(killTheRunGrainsSilo: false, terminate: true);

    /// <summary>
    /// Scale-out: two silos train a (2,2,2) run; a third joins mid-way between two checkpoints. The run checkpoints at the
    /// end of the step in flight, re-places its stages (the new silo takes a share) and goes on from that step: nothing
    /// lost, nothing stopped, and the weights of an uninterrupted run.
    /// </summary>
    [Fact]
    public async Task ASiloJoiningALiveRun_TakesStagesAtTheNextStepBoundary_AndTheRunLosesNoStep()
    {
        const string runId = "joined-mid-run";
        var clusterId = $"join-{Guid.NewGuid():N}";
        var logs = Directory.CreateTempSubdirectory("insidellms-join-").FullName;
        var siloAssembly = RepositoryPaths.SiloAssembly(typeof(FailoverTests).Assembly);
        var configuration = Configuration(clusterId);
        var instances = LocalPorts.FreeSiloInstances(3);
        var silos = new List<SiloProcess>();
        try
        {
            silos.AddRange(await Task.WhenAll(instances.Take(2).Select(n => SiloProcess.StartAsync(siloAssembly, n, configuration, logs, SiloStartTimeout))));
            using var client = await ClusterRuns.StartClientAsync(redis.ConnectionString, clusterId);
            var grains = client.Services.GetRequiredService<IClusterClient>();
            var diagnostics = () => string.Join('\n', silos.Select(s => s.Tail()));
            var run = grains.GetGrain<ITrainingRunGrain>(runId);
            await run.StartAsync(JoinSpec);

            var status = await ClusterRuns.PollUntilAsync(run, s => s.LastCheckpointStep >= CheckpointInterval && s.Step % CheckpointInterval >= 2, RunTimeout, diagnostics);
            var before = await StageSilosAsync(silos[0], runId);
            var joinedAt = DateTimeOffset.UtcNow;
            var joined = await SiloProcess.StartAsync(siloAssembly, instances[2], configuration, logs, SiloStartTimeout);
            silos.Add(joined);
            output.WriteLine($"{joinedAt:HH:mm:ss.fff} a third silo (instance {joined.Instance}) starts at step {status.Step}; stages by silo port before: {Describe(before)}");

            var moved = await ClusterRuns.PollUntilAsync(run, s => s.RecoveryLog.Any(r => r.Cause.Contains("joined", StringComparison.Ordinal)), RunTimeout, diagnostics);
            var after = await StageSilosAsync(silos[0], runId);
            output.WriteLine($"stages by silo port after the join: {Describe(after)}");
            Assert.True(after.GetValueOrDefault(joined.SiloPort) > 0, $"the joined silo holds no stage of the run: {Describe(after)}\n{diagnostics()}");
            Assert.Equal(JoinSpec.Stages * JoinSpec.Replicas, after.Values.Sum());

            var final = await ClusterRuns.PollUntilAsync(run, s => s.Phase is not (RunPhase.Starting or RunPhase.Running or RunPhase.Recovering), RunTimeout, diagnostics);
            Assert.True(final.Phase == RunPhase.Completed, $"the run ended {final.Phase}: {final.Error}\n{diagnostics()}");
            var recovery = Assert.Single(final.RecoveryLog);
            Assert.Contains("joined", recovery.Cause, StringComparison.Ordinal);
            Assert.True(recovery.ResumedFromStep >= status.Step, $"resumed from {recovery.ResumedFromStep}, before step {status.Step} reached when the silo started");
            Assert.Equal(recovery.FailedAtStep, recovery.ResumedFromStep);
            var history = await run.GetHistoryAsync(0);
            var pause = history.Single(m => m.Step == recovery.ResumedFromStep + 1).CompletedAt - history.Single(m => m.Step == recovery.ResumedFromStep).CompletedAt;
            output.WriteLine(
                $"join: checkpoint and re-placement at step {recovery.ResumedFromStep} (silo started at step {status.Step}, {moved.Step} when seen), " +
                $"{recovery.SecondsToResume:F2} s from the request to the stages' restart; the step after it completed {pause.TotalSeconds:F2} s after the one before");

            await AssertUninterruptedWeightsAsync(grains, run, JoinSpec, runId.Replace("joined", "never-joined", StringComparison.Ordinal), diagnostics);
        }
        finally
        {
            foreach (var silo in silos)
            {
                await silo.DisposeAsync();
            }
        }
    }

    private async Task KillNineAndRecoverAsync(bool killTheRunGrainsSilo, bool terminate = false)
    {
        var runId = terminate ? "interrupted-by-sigterm" : killTheRunGrainsSilo ? "interrupted-run-silo" : "interrupted-stage-silo";
        var clusterId = $"failover-{Guid.NewGuid():N}";
        var logs = Directory.CreateTempSubdirectory("insidellms-failover-").FullName;
        var siloAssembly = RepositoryPaths.SiloAssembly(typeof(FailoverTests).Assembly);
        var configuration = Configuration(clusterId);

        var silos = new List<SiloProcess>();
        try
        {
            var started = Stopwatch.StartNew();
            silos.AddRange(await Task.WhenAll(LocalPorts.FreeSiloInstances(3).Select(n =>
                SiloProcess.StartAsync(siloAssembly, n, configuration, logs, SiloStartTimeout))));
            output.WriteLine($"3 silos healthy in {started.Elapsed.TotalSeconds:F1} s (instances {string.Join(", ", silos.Select(s => s.Instance))}); logs in {logs}");

            using var client = await ClusterRuns.StartClientAsync(redis.ConnectionString, clusterId);
            var grains = client.Services.GetRequiredService<IClusterClient>();
            var diagnostics = () => string.Join('\n', silos.Select(s => s.Tail()));

            var run = grains.GetGrain<ITrainingRunGrain>(runId);
            await run.StartAsync(Spec);

            // The stages are placed when the run initialises them; pick the victim then, so the kill itself is not late.
            await ClusterRuns.PollUntilAsync(run, s => s.Step >= 1, RunTimeout, diagnostics);
            var victim = await PickVictimAsync(silos, runId, killTheRunGrainsSilo);

            // Mid-way between two checkpoints after the first, so the rollback has steps to lose.
            var status = await ClusterRuns.PollUntilAsync(run, s => s.LastCheckpointStep >= CheckpointInterval && s.Step % CheckpointInterval >= 2, RunTimeout, diagnostics);
            var stepAtKill = status.Step;
            var killedAt = DateTimeOffset.UtcNow;
            if (terminate)
            {
                var exited = await victim.TerminateAsync(TimeSpan.FromSeconds(60));
                output.WriteLine($"{killedAt:HH:mm:ss.fff} SIGTERM of silo {victim.Instance} (pid {victim.ProcessId}) at step {stepAtKill}, last periodic checkpoint {status.LastCheckpointStep}; it exited after {exited.TotalSeconds:F2} s");
                Assert.Contains("checkpointed at step", victim.Tail(400), StringComparison.Ordinal);
            }
            else
            {
                victim.Kill();
                output.WriteLine($"{killedAt:HH:mm:ss.fff} kill -9 of silo {victim.Instance} (pid {victim.ProcessId}) at step {stepAtKill}, last checkpoint {status.LastCheckpointStep}");
            }

            silos.Remove(victim);

            var final = await ClusterRuns.PollUntilAsync(run, s => s.Phase is not (RunPhase.Starting or RunPhase.Running or RunPhase.Recovering), RunTimeout, diagnostics);
            Assert.True(final.Phase == RunPhase.Completed, $"the run ended {final.Phase}: {final.Error}\n{diagnostics()}");
            Assert.Equal(Spec.Steps, final.Step);
            Assert.True(final.Recoveries >= 1, "the run never recovered");
            var history = await run.GetHistoryAsync(0);
            var firstNewStep = history.Where(m => m.CompletedAt > killedAt).Min(m => m.CompletedAt);
            foreach (var recovery in final.RecoveryLog)
            {
                var lost = Math.Max(recovery.FailedAtStep, stepAtKill) - recovery.ResumedFromStep;
                output.WriteLine(
                    $"recovery: failed at step {recovery.FailedAtStep} (seen at kill: {stepAtKill}), resumed from {recovery.ResumedFromStep}, " +
                    $"lost {lost} steps, {recovery.SecondsToResume:F2} s to resume after detection ({recovery.Cause})");
                Assert.InRange(recovery.FailedAtStep - recovery.ResumedFromStep, 0, CheckpointInterval);
                Assert.InRange(lost, 0, CheckpointInterval);
                if (terminate)
                {
                    // No step the run had completed when the silo was told to stop is lost: it resumes at or after it.
                    Assert.True(recovery.ResumedFromStep >= stepAtKill, $"resumed from {recovery.ResumedFromStep}, before step {stepAtKill} reached at SIGTERM");
                }
            }

            output.WriteLine($"kill -9 to the first step completed after it: {(firstNewStep - killedAt).TotalSeconds:F2} s");

            await AssertUninterruptedWeightsAsync(grains, run, Spec, runId.Replace("interrupted", "uninterrupted", StringComparison.Ordinal), diagnostics);
        }
        finally
        {
            foreach (var silo in silos)
            {
                await silo.DisposeAsync();
            }
        }
    }

    private Dictionary<string, string> Configuration(string clusterId) => ClusterRuns.SiloConfiguration(redis.ConnectionString, clusterId);

    /// <summary>
    /// Runs the same spec and seed, never interrupted, on the cluster as it is now, and asserts that <paramref name="run"/>
    /// ended with its weights, bit for bit: every step is a function of (seed, step) and a checkpoint holds the exact
    /// state, so replaying lost steps or moving stages computes the same bits.
    /// </summary>
    private async Task AssertUninterruptedWeightsAsync(IClusterClient grains, ITrainingRunGrain run, TrainingRunSpec spec, string referenceId, Func<string> diagnostics)
    {
        var reference = grains.GetGrain<ITrainingRunGrain>(referenceId);
        await reference.StartAsync(spec);
        var referenceStatus = await ClusterRuns.PollUntilAsync(reference, s => s.Phase is not (RunPhase.Starting or RunPhase.Running), RunTimeout, diagnostics);
        Assert.True(referenceStatus.Phase == RunPhase.Completed, $"the uninterrupted run ended {referenceStatus.Phase}: {referenceStatus.Error}");
        Assert.Equal(0, referenceStatus.Recoveries);

        var recovered = await run.GetParametersAsync();
        var (identical, total, worst) = ClusterRuns.Compare(await reference.GetParametersAsync(), recovered);
        Assert.True(identical == total, $"{total - identical} tensors differ from the uninterrupted run (largest difference {worst:E2})");
        output.WriteLine($"weights against the uninterrupted run: {identical}/{total} tensors bit-identical, largest difference {worst:E2}");
        output.WriteLine($"weights against the in-process reference trainer: largest difference {ReferenceDifference(ClusterRuns.Floats(recovered), spec):E2}");
    }

    /// <summary>How many stage grains of <paramref name="runId"/> each active silo holds (by silo port), from <c>GET /api/cluster</c>.</summary>
    private static async Task<Dictionary<int, int>> StageSilosAsync(SiloProcess silo, string runId)
    {
        using var http = new HttpClient { BaseAddress = silo.WebAddress };
        var cluster = await http.GetFromJsonAsync<JsonElement>(new Uri("api/cluster", UriKind.Relative));
        return cluster.GetProperty("silos").EnumerateArray()
            .Where(s => s.GetProperty("status").GetString() == "Active")
            .ToDictionary(
                s => int.Parse(s.GetProperty("endpoint").GetString()!.Split(':')[^1], System.Globalization.CultureInfo.InvariantCulture),
                s => s.GetProperty("trainingGrains").EnumerateArray().Select(g => g.GetString()!)
                    .Count(g => g.StartsWith("pipelinestage/", StringComparison.Ordinal) && g.Contains($"/{runId}/", StringComparison.Ordinal)));
    }

    private static string Describe(Dictionary<int, int> stagesByPort) =>
        string.Join(", ", stagesByPort.OrderBy(p => p.Key).Select(p => $"{p.Key}: {p.Value}"));

    /// <summary>
    /// The silo to kill, from where <c>GET /api/cluster</c> lists the run's grains: the one holding the run grain, or
    /// the one holding the most stages of the run without holding its run grain (then the surviving run loop must
    /// notice the lost stages itself).
    /// </summary>
    private async Task<SiloProcess> PickVictimAsync(IReadOnlyList<SiloProcess> silos, string runId, bool holdingTheRunGrain)
    {
        using var http = new HttpClient { BaseAddress = silos[0].WebAddress };
        var cluster = await http.GetFromJsonAsync<JsonElement>(new Uri("api/cluster", UriKind.Relative));
        var stagesByPort = cluster.GetProperty("silos").EnumerateArray()
            .Where(s => s.GetProperty("status").GetString() == "Active")
            .ToDictionary(
                s => int.Parse(s.GetProperty("endpoint").GetString()!.Split(':')[^1], System.Globalization.CultureInfo.InvariantCulture),
                s => s.GetProperty("trainingGrains").EnumerateArray().Select(g => g.GetString()!).ToArray());
        foreach (var (port, grains) in stagesByPort)
        {
            output.WriteLine($"silo port {port}: {string.Join(", ", grains)}");
        }

        var stageGrains = (SiloProcess s) => stagesByPort.GetValueOrDefault(s.SiloPort, [])
            .Count(g => g.Contains("pipelinestage", StringComparison.OrdinalIgnoreCase) && g.Contains($"/{runId}/", StringComparison.Ordinal));
        var holdsRun = (SiloProcess s) => stagesByPort.GetValueOrDefault(s.SiloPort, []).Contains($"trainingrun/{runId}", StringComparer.Ordinal);
        if (holdingTheRunGrain)
        {
            return silos.SingleOrDefault(holdsRun) ?? throw new InvalidOperationException($"no silo lists trainingrun/{runId}");
        }

        var victim = silos.OrderBy(holdsRun).ThenByDescending(stageGrains).First();
        Assert.True(stageGrains(victim) > 0, "no silo lists a stage grain of the run");
        Assert.False(holdsRun(victim), "every silo holding stages also holds the run grain");
        return victim;
    }

    /// <summary>Largest difference from the in-process reference trainer (reported, not asserted: summation orders differ).</summary>
    private static double ReferenceDifference(Dictionary<string, float[]> parameters, TrainingRunSpec spec)
    {
        var data = new DatasetCache().Get(spec);
        using var trainer = new ReferenceTrainer(TrainingRunSpecs.Model(spec, data), data, TrainingRunSpecs.Reference(spec) with { Threads = 1 });
        for (var i = 0; i < spec.Steps; i++)
        {
            trainer.TrainStep();
        }

        double worst = 0;
        foreach (var (name, parameter) in trainer.Model.named_parameters())
        {
            var expected = MemoryMarshal.Cast<byte, float>(TensorIO.ToBytes(parameter)).ToArray();
            worst = Math.Max(worst, expected.Zip(parameters[name], (a, b) => Math.Abs((double)a - b)).Max());
        }

        return worst;
    }
}
