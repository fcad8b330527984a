using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Tests.Processes;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace InsideLLMs.Distributed.Tests.Containers;

/// <summary>
/// What Kubernetes does to silos, done with real containers of the silo image: Redis and three silo containers on an
/// internal Docker network train a (2,2,2) run; <c>docker stop</c> of a silo holding stages (scale-in: SIGTERM, then
/// the container is gone), a new silo container (scale-out), <c>docker kill</c> of another silo holding stages (a
/// crash). The run goes on through all three and ends with the weights of a run that was never interrupted; the pause
/// each event caused is printed.
/// </summary>
[Collection(AloneCollection.Name)]
public sealed class ContainerScalingTests(DockerImagesFixture images, ITestOutputHelper output) : IClassFixture<DockerImagesFixture>
{
    private const int CheckpointInterval = 5;
    private const string Token = "container-test-token-0123456789";

    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan EventTimeout = TimeSpan.FromSeconds(120);

    /// <summary>Long enough (about a minute in containers on two cores) for the three events to land while it runs.</summary>
    private static TrainingRunSpec Spec => new()
    {
        Layers = 4, Heads = 2, Width = 32, Context = 32, BatchSize = 4, Stages = 2, Replicas = 2, MicroBatches = 2,
        Schedule = "1f1b", Steps = 400, LearningRate = 3e-3, MinLearningRate = 3e-4, WarmupSteps = 5,
        CheckpointInterval = CheckpointInterval, EvalInterval = 0, Seed = 23,
    };

    [Fact]
    public async Task SiloContainers_StoppedJoinedAndKilled_TheRunGoesOn_AndEndsWithTheUninterruptedWeights()
    {
        foreach (var line in images.Timeline)
        {
            output.WriteLine(line);
        }

        var id = Guid.NewGuid().ToString("N")[..8];
        var network = $"insidellms-ct-{id}";
        var containers = new List<string>();
        var diagnostics = () => string.Join('\n', containers.Select(c => $"--- {c} ---\n{Logs(c)}"));
        await Docker.RunAsync("network", "create", "--internal", network);
        try
        {
            var redis = $"ct-{id}-redis";
            await Docker.RunAsync("run", "-d", "--name", redis, "--network", network, DockerImagesFixture.RedisImage);
            containers.Add(redis);
            var redisAddress = await AddressAsync(redis);

            var silos = new Dictionary<string, string>(); // container -> its address
            var started = Stopwatch.StartNew();
            foreach (var n in new[] { 1, 2, 3 })
            {
                var name = await StartSiloAsync(id, n, network, redis, containers);
                silos[name] = await AddressAsync(name);
            }

            await Task.WhenAll(silos.Values.Select(address => WaitReadyAsync(address, diagnostics)));
            output.WriteLine($"redis and 3 silo containers on --internal network {network}; silos ready {started.Elapsed.TotalSeconds:F1} s after the first started");

            using var client = await ClusterRuns.StartClientAsync($"{redisAddress}:6379", $"ct-{id}");
            var grains = client.Services.GetRequiredService<IClusterClient>();
            var run = grains.GetGrain<ITrainingRunGrain>("in-containers");
            await run.StartAsync(Spec);
            var events = new List<(string What, DateTimeOffset At, long Step)>();

            // 1. Scale-in: docker stop (SIGTERM) of a silo holding stages, mid-way between two periodic checkpoints.
            var status = await ClusterRuns.PollUntilAsync(run, s => s.LastCheckpointStep >= CheckpointInterval && s.Step % CheckpointInterval >= 2, EventTimeout, diagnostics);
            var stopped = await PickAsync(silos, "in-containers");
            var stopAt = DateTimeOffset.UtcNow;
            var stopWatch = Stopwatch.StartNew();
            await Docker.RunAsync("stop", "-t", "60", stopped);
            output.WriteLine($"docker stop {stopped} at step {status.Step}: the container exited after {stopWatch.Elapsed.TotalSeconds:F2} s");
            Assert.Contains("checkpointed at step", Logs(stopped), StringComparison.Ordinal);
            events.Add(("docker stop", stopAt, status.Step));
            silos.Remove(stopped);
            // The run moves its stages off the leaving silo ("left the cluster"); when that silo also held the directory
            // entry of the run's grain, Orleans deactivates the grain as well and a new activation resumes from the same
            // checkpoint ("reactivated"). Either way it resumes at or after the step reached when the silo was stopped.
            var left = await ClusterRuns.PollUntilAsync(run, s => s.RecoveryLog.Any(r => r.DetectedAt >= stopAt) && s.Phase == RunPhase.Running, EventTimeout, diagnostics);
            foreach (var leave in left.RecoveryLog.Where(r => r.DetectedAt >= stopAt))
            {
                Assert.True(leave.ResumedFromStep >= status.Step, $"scale-in resumed from {leave.ResumedFromStep}, before step {status.Step} reached at docker stop ({leave.Cause})");
            }

            // 2. Scale-out: a new silo container joins; the run re-places its stages at the next step boundary.
            var joinedName = await StartSiloAsync(id, 4, network, redis, containers);
            var joinedAddress = await AddressAsync(joinedName);
            silos[joinedName] = joinedAddress;
            var joinStep = (await run.GetStatusAsync()).Step;
            var joinAt = DateTimeOffset.UtcNow;
            await WaitReadyAsync(joinedAddress, diagnostics);
            events.Add(("new silo container", joinAt, joinStep));
            var joined = await ClusterRuns.PollUntilAsync(run, s => s.RecoveryLog.Any(r => r.Cause.Contains("joined", StringComparison.Ordinal)), EventTimeout, diagnostics);
            var join = joined.RecoveryLog.First(r => r.Cause.Contains("joined", StringComparison.Ordinal));
            Assert.True(join.ResumedFromStep >= joinStep, $"scale-out resumed from {join.ResumedFromStep}, before step {joinStep}");
            // The recovery is recorded once the stages start again; a stage that a silo with an older view placed elsewhere
            // is moved once more right after, before the next step.
            var placed = await StagesBySiloAsync(silos.Values.First(), "in-containers");
            for (var waited = Stopwatch.StartNew(); placed.GetValueOrDefault(joinedAddress) == 0 && waited.Elapsed < TimeSpan.FromSeconds(20);)
            {
                await Task.Delay(250);
                placed = await StagesBySiloAsync(silos.Values.First(), "in-containers");
            }

            output.WriteLine($"after the join, stages by silo: {string.Join(", ", placed.Select(p => $"{p.Key}: {p.Value}"))}");
            Assert.True(placed.GetValueOrDefault(joinedAddress) > 0, $"the new silo {joinedAddress} holds no stage: {string.Join(", ", placed)}\n{diagnostics()}");

            // 3. A crash: docker kill (SIGKILL) of another silo holding stages; the run rolls back to its last checkpoint.
            status = await ClusterRuns.PollUntilAsync(run, s => s.Step > join.ResumedFromStep + CheckpointInterval && s.Step % CheckpointInterval >= 2, EventTimeout, diagnostics);
            var killed = await PickAsync(silos, "in-containers");
            var killAt = DateTimeOffset.UtcNow;
            await Docker.RunAsync("kill", killed);
            output.WriteLine($"docker kill {killed} at step {status.Step}, last checkpoint {status.LastCheckpointStep}");
            events.Add(("docker kill", killAt, status.Step));
            silos.Remove(killed);

            var final = await ClusterRuns.PollUntilAsync(run, s => s.Phase is not (RunPhase.Starting or RunPhase.Running or RunPhase.Recovering), EventTimeout, diagnostics);
            Assert.True(final.Phase == RunPhase.Completed, $"the run ended {final.Phase}: {final.Error}\n{diagnostics()}");
            Assert.Equal(Spec.Steps, final.Step);
            // Each recovery belongs to the last event before it; the crash's roll back at most one checkpoint interval.
            var log = final.RecoveryLog;
            Assert.True(log.Count >= 3, $"recoveries: {string.Join(" | ", log.Select(r => r.Cause))}");
            var history = await run.GetHistoryAsync(0);
            foreach (var recovery in log)
            {
                var (what, _, step) = events.LastOrDefault(e => e.At <= recovery.DetectedAt);
                Assert.True(what is not null, $"a recovery before the first event: {recovery.Cause}");
                var lost = Math.Max(0, Math.Max(recovery.FailedAtStep, step) - recovery.ResumedFromStep);
                output.WriteLine(
                    $"{what} at step {step}: resumed from step {recovery.ResumedFromStep}, {lost} step(s) computed again, " +
                    $"{recovery.SecondsToResume:F2} s from {(what == "docker kill" ? "detection" : "the request")} to the stages' restart, " +
                    $"the run paused {Pause(history, recovery.ResumedFromStep).TotalSeconds:F2} s between completing steps {recovery.ResumedFromStep} and {recovery.ResumedFromStep + 1} ({recovery.Cause})");
                if (what == "docker kill")
                {
                    Assert.InRange(recovery.FailedAtStep - recovery.ResumedFromStep, 0, CheckpointInterval);
                    Assert.True(recovery.ResumedFromStep >= step - CheckpointInterval, $"the crash rolled back to step {recovery.ResumedFromStep}, more than one checkpoint before step {step}");
                }
                else
                {
                    Assert.True(recovery.ResumedFromStep >= step, $"{what} at step {step}: resumed from {recovery.ResumedFromStep} ({recovery.Cause})");
                }
            }

            // The same spec and seed, never interrupted, on the containers that are left.
            var reference = grains.GetGrain<ITrainingRunGrain>("in-containers-uninterrupted");
            await reference.StartAsync(Spec);
            var referenceStatus = await ClusterRuns.PollUntilAsync(reference, s => s.Phase is not (RunPhase.Starting or RunPhase.Running), EventTimeout, diagnostics);
            Assert.True(referenceStatus.Phase == RunPhase.Completed, $"the uninterrupted run ended {referenceStatus.Phase}: {referenceStatus.Error}");
            Assert.Equal(0, referenceStatus.Recoveries);
            var (identical, total, worst) = ClusterRuns.Compare(await reference.GetParametersAsync(), await run.GetParametersAsync());
            output.WriteLine($"weights against the uninterrupted run: {identical}/{total} tensors bit-identical, largest difference {worst:E2}");
            Assert.True(identical == total, $"{total - identical} tensors differ from the uninterrupted run (largest difference {worst:E2})");
        }
        finally
        {
            foreach (var container in containers)
            {
                await Docker.TryAsync(TimeSpan.FromSeconds(60), "rm", "-f", container);
            }

            await Docker.TryAsync(TimeSpan.FromSeconds(30), "network", "rm", network);
        }
    }

    private static async Task<string> StartSiloAsync(string id, int n, string network, string redis, List<string> containers)
    {
        var name = $"ct-{id}-silo-{n}";
        string[] environment =
        [
            "Silo__Clustering=redis", "Silo__Storage=redis", $"Redis__ConnectionString={redis}:6379",
            "Silo__AdvertisedAddress=auto", $"Orleans__ClusterId=ct-{id}", $"Api__Token={Token}",
            "Compute__Workers=1", "Compute__TorchThreadsPerWorker=1", "Logging__Console__TimestampFormat=HH:mm:ss.fff ",
        ];
        await Docker.RunAsync(
            ["run", "-d", "--name", name, "--hostname", name, "--network", network, "--memory", "3g", .. environment.SelectMany(e => new[] { "-e", e }), DockerImagesFixture.SiloImage]);
        containers.Add(name);
        return name;
    }

    private static async Task<string> AddressAsync(string container) =>
        await Docker.RunAsync("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", container);

    private static string Logs(string container)
    {
        var result = Docker.TryAsync(TimeSpan.FromSeconds(30), "logs", "--tail", "60", container).GetAwaiter().GetResult();
        return result.Output + result.Error;
    }

    /// <summary>Waits for the silo's readiness probe (ready once membership lists it as active).</summary>
    private static async Task WaitReadyAsync(string address, Func<string> diagnostics)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var response = await http.GetAsync(new Uri($"http://{address}:8080/health/ready"));
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // not listening yet
            }

            Assert.True(waited.Elapsed < ReadyTimeout, $"silo {address} not ready after {ReadyTimeout.TotalSeconds:F0} s\n{diagnostics()}");
            await Task.Delay(250);
        }
    }

    /// <summary>How many stage grains of <paramref name="runId"/> each active silo holds, by silo address, from <c>GET /api/cluster</c>.</summary>
    private static async Task<Dictionary<string, int>> StagesBySiloAsync(string address, string runId)
    {
        using var http = new HttpClient();
        var cluster = await http.GetFromJsonAsync<JsonElement>(new Uri($"http://{address}:8080/api/cluster"));
        return cluster.GetProperty("silos").EnumerateArray()
            .Where(s => s.GetProperty("status").GetString() == "Active")
            .ToDictionary(
                s => s.GetProperty("endpoint").GetString()!.Split(':')[0],
                s => s.GetProperty("trainingGrains").EnumerateArray().Select(g => g.GetString()!)
                    .Count(g => g.StartsWith("pipelinestage/", StringComparison.Ordinal) && g.Contains($"/{runId}/", StringComparison.Ordinal)));
    }

    /// <summary>A silo container holding the most stages of the run and not its run grain (then the run loop sees the loss itself).</summary>
    private async Task<string> PickAsync(Dictionary<string, string> silos, string runId)
    {
        using var http = new HttpClient();
        var cluster = await http.GetFromJsonAsync<JsonElement>(new Uri($"http://{silos.Values.First()}:8080/api/cluster"));
        var grainsByAddress = cluster.GetProperty("silos").EnumerateArray()
            .Where(s => s.GetProperty("status").GetString() == "Active")
            .ToDictionary(s => s.GetProperty("endpoint").GetString()!.Split(':')[0], s => s.GetProperty("trainingGrains").EnumerateArray().Select(g => g.GetString()!).ToArray());
        var stages = (string address) => grainsByAddress.GetValueOrDefault(address, []).Count(g => g.StartsWith("pipelinestage/", StringComparison.Ordinal) && g.Contains($"/{runId}/", StringComparison.Ordinal));
        var holdsRun = (string address) => grainsByAddress.GetValueOrDefault(address, []).Contains($"trainingrun/{runId}", StringComparer.Ordinal);
        var pick = silos.Where(s => !holdsRun(s.Value)).OrderByDescending(s => stages(s.Value)).First();
        output.WriteLine($"silos: {string.Join(", ", silos.Select(s => $"{s.Key} ({s.Value}): {stages(s.Value)} stage(s){(holdsRun(s.Value) ? ", the run grain" : "")}"))}");
        Assert.True(stages(pick.Value) > 0, "no silo without the run grain holds a stage of the run");
        return pick.Key;
    }

    /// <summary>
    /// The pause an event caused: from the completion of the step the run resumed from to the completion of the next one
    /// (after a crash this includes the steps computed again, the detection and the rollback).
    /// </summary>
    private static TimeSpan Pause(IReadOnlyList<StepMetrics> history, long resumedFrom) =>
        history.Single(m => m.Step == resumedFrom + 1).CompletedAt - history.Single(m => m.Step == resumedFrom).CompletedAt;
}
