using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Xunit.Abstractions;

namespace InsideLLMs.Distributed.Tests.Processes;

/// <summary>
/// The HTTP API while the cluster recovers: two silo processes on Redis, a small run, <c>kill -9</c> of the silo holding
/// its run grain. Until membership declares that silo dead, the survivor cannot reach the grain; its status and history
/// endpoints must still answer promptly (503 with <c>Retry-After</c>, never a 500 or a hang) until the run is back.
/// </summary>
[Collection(AloneCollection.Name)]
public sealed class StatusDuringFailoverTests(RedisServerFixture redis, ITestOutputHelper output) : IClassFixture<RedisServerFixture>
{
    private static readonly TimeSpan SiloStartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan RecoveryTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Api:ReadTimeoutSeconds' default is 4 s; 5 s leaves the survivor's own scheduling a second.</summary>
    private static readonly TimeSpan PromptAnswer = TimeSpan.FromSeconds(5);

    /// <summary>A tiny one-stage model with a checkpoint every 5 steps and far more steps than the test waits for (it stops the run).</summary>
    private static Dictionary<string, object> Spec => new()
    {
        ["stages"] = 1, ["replicas"] = 1, ["microBatches"] = 1, ["layers"] = 1, ["width"] = 16, ["heads"] = 2, ["context"] = 32,
        ["batchSize"] = 2, ["steps"] = 5000, ["warmupSteps"] = 1, ["checkpointInterval"] = 5, ["evalInterval"] = 0, ["seed"] = 5,
    };

    [Fact]
    public async Task KillNineOfTheSiloHoldingTheRunGrain_StatusAndHistoryOnTheSurvivor_AnswerWithin5sAndNever500_UntilTheRunIsBack()
    {
        var runId = $"status-during-failover-{Guid.NewGuid():N}"[..32];
        var logs = Directory.CreateTempSubdirectory("insidellms-status-failover-").FullName;
        var configuration = new Dictionary<string, string>
        {
            ["Silo:Clustering"] = "redis",
            ["Silo:Storage"] = "redis",
            ["Redis:ConnectionString"] = redis.ConnectionString,
            ["Orleans:ClusterId"] = $"status-failover-{Guid.NewGuid():N}",
            ["Compute:Workers"] = "1",
            ["Compute:TorchThreadsPerWorker"] = "1",
            ["Training:SupervisorIntervalSeconds"] = "1",
            ["Logging:Console:TimestampFormat"] = "HH:mm:ss.fff ",
        };
        var siloAssembly = RepositoryPaths.SiloAssembly(typeof(StatusDuringFailoverTests).Assembly);
        var silos = new List<SiloProcess>();
        try
        {
            silos.AddRange(await Task.WhenAll(LocalPorts.FreeSiloInstances(2, first: 320).Select(n =>
                SiloProcess.StartAsync(siloAssembly, n, configuration, logs, SiloStartTimeout))));
            var diagnostics = () => string.Join('\n', silos.Select(s => s.Tail()));
            using var first = new HttpClient { BaseAddress = silos[0].WebAddress, Timeout = TimeSpan.FromSeconds(30) };
            using var started = await first.PostAsJsonAsync(Relative($"api/runs/{runId}"), Spec);
            Assert.True(started.IsSuccessStatusCode, $"POST run: {(int)started.StatusCode} {await started.Content.ReadAsStringAsync()}");
            var before = await PollAsync(first, runId, s => s.GetProperty("lastCheckpointStep").GetInt64() >= 5, diagnostics);

            var victim = await HolderOfTheRunGrainAsync(first, silos, runId);
            var survivor = silos.Single(s => s != victim);
            // A longer client timeout than the API's own bound: a hang would show as a slow answer, not a client error.
            using var http = new HttpClient { BaseAddress = survivor.WebAddress, Timeout = TimeSpan.FromSeconds(30) };
            var killed = Stopwatch.StartNew();
            victim.Kill();
            silos.Remove(victim);
            output.WriteLine($"kill -9 of silo {victim.Instance} (holding trainingrun/{runId}) at step {before.GetProperty("step").GetInt64()}; asking silo {survivor.Instance}");

            var answers = new List<(TimeSpan At, string Path, int Status, TimeSpan Took)>();
            string? firstRefusal = null;
            while (true)
            {
                Assert.True(killed.Elapsed < RecoveryTimeout, $"the run was not back {RecoveryTimeout.TotalSeconds:F0} s after the kill\n{Timeline(answers)}\n{diagnostics()}");
                JsonElement? status = null;
                foreach (var path in new[] { $"api/runs/{runId}", $"api/runs/{runId}/history?after=0" })
                {
                    var asked = Stopwatch.StartNew();
                    using var response = await http.GetAsync(Relative(path));
                    var body = await response.Content.ReadAsStringAsync();
                    answers.Add((killed.Elapsed, path, (int)response.StatusCode, asked.Elapsed));
                    Assert.True(asked.Elapsed < PromptAnswer, $"GET {path} took {asked.Elapsed.TotalSeconds:F2} s\n{Timeline(answers)}");
                    Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.ServiceUnavailable,
                        $"GET {path}: {(int)response.StatusCode} {body}\n{Timeline(answers)}\n{diagnostics()}");
                    var json = JsonDocument.Parse(body).RootElement;
                    if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
                    {
                        Assert.Contains("Retry after", json.GetProperty("error").GetString(), StringComparison.Ordinal);
                        Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero, "a 503 without Retry-After");
                        firstRefusal ??= body;
                    }
                    else if (path == $"api/runs/{runId}")
                    {
                        status = json;
                    }
                }

                if (status is { } s && s.GetProperty("recoveries").GetInt32() >= 1 && s.GetProperty("phase").GetString() == "Running")
                {
                    break;
                }

                await Task.Delay(100);
            }

            var unavailable = answers.Where(a => a.Status == 503).ToList();
            output.WriteLine(Timeline(answers));
            var firstOk = answers.SkipWhile(a => a.Status == 200).FirstOrDefault(a => a.Status == 200).At;
            output.WriteLine(
                $"{answers.Count} answers in {killed.Elapsed.TotalSeconds:F1} s after the kill: {unavailable.Count} x 503, slowest " +
                $"{answers.Max(a => a.Took).TotalSeconds:F2} s; first 200 after the 503s at {firstOk.TotalSeconds:F1} s, the run running again at {answers[^1].At.TotalSeconds:F1} s");
            output.WriteLine($"first 503: {firstRefusal}");
            using var stopped = await http.PostAsync(Relative($"api/runs/{runId}/stop"), null);
            Assert.True(stopped.IsSuccessStatusCode, $"stop: {(int)stopped.StatusCode}");
        }
        finally
        {
            foreach (var silo in silos)
            {
                await silo.DisposeAsync();
            }
        }
    }

    private static Uri Relative(string path) => new(path, UriKind.Relative);

    private static string Timeline(IEnumerable<(TimeSpan At, string Path, int Status, TimeSpan Took)> answers) =>
        string.Join('\n', answers.Select(a => string.Create(CultureInfo.InvariantCulture,
            $"  +{a.At.TotalSeconds,5:F2} s  {a.Status}  {a.Took.TotalMilliseconds,6:F0} ms  GET {a.Path}")));

    private static async Task<JsonElement> PollAsync(HttpClient http, string runId, Func<JsonElement, bool> done, Func<string> diagnostics)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var status = await http.GetFromJsonAsync<JsonElement>(Relative($"api/runs/{runId}"));
            if (done(status))
            {
                return status;
            }

            Assert.True(waited.Elapsed < RecoveryTimeout, $"run {runId} is {status}\n{diagnostics()}");
            await Task.Delay(50);
        }
    }

    /// <summary>The silo whose entry in <c>GET /api/cluster</c> lists the run grain.</summary>
    private static async Task<SiloProcess> HolderOfTheRunGrainAsync(HttpClient http, IReadOnlyList<SiloProcess> silos, string runId)
    {
        var cluster = await http.GetFromJsonAsync<JsonElement>(Relative("api/cluster"));
        var port = cluster.GetProperty("silos").EnumerateArray()
            .Where(s => s.GetProperty("trainingGrains").EnumerateArray().Any(g => g.GetString() == $"trainingrun/{runId}"))
            .Select(s => int.Parse(s.GetProperty("endpoint").GetString()!.Split(':')[^1], CultureInfo.InvariantCulture))
            .Single();
        return silos.Single(s => s.SiloPort == port);
    }
}
