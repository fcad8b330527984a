using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using InsideLLMs.Distributed.Tests.Processes;

namespace InsideLLMs.Distributed.Tests.EndToEnd;

/// <summary>
/// One real silo process (localhost clustering with itself as primary, memory storage) on free ports far from the
/// defaults, shared by the end-to-end tests, with one small run trained and published as <see cref="BaseVersion"/> for the
/// generation and inspection tests. Stopped when the collection ends.
/// </summary>
public sealed class OneSiloFixture : IAsyncLifetime
{
    /// <summary>The published version the read-only tests use; the run it came from is <see cref="BaseRun"/>.</summary>
    public const string BaseVersion = "e2e-base";

    public const string BaseRun = "e2e-base-run";

    private static readonly TimeSpan SiloStartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(60);

    private SiloProcess? _silo;

    public HttpClient Http { get; private set; } = null!;

    /// <summary>The silo's client gateway, as <c>--gateway</c> takes it.</summary>
    public string Gateway => $"127.0.0.1:{Silo.GatewayPort}";

    public SiloProcess Silo => _silo ?? throw new InvalidOperationException("The silo has not started.");

    /// <summary>
    /// The brief's small model: 2 stages x 1 replica, 2 layers x 2 heads x 32, context 32, 2 rows a step, 6 steps, no
    /// checkpoints or validation (nothing to wait for but the steps).
    /// </summary>
    public static Dictionary<string, object> SmallSpec(int steps = 6) => new()
    {
        ["stages"] = 2, ["replicas"] = 1, ["microBatches"] = 2, ["layers"] = 2, ["width"] = 32, ["heads"] = 2, ["context"] = 32,
        ["batchSize"] = 2, ["steps"] = steps, ["warmupSteps"] = 1, ["checkpointInterval"] = 0, ["evalInterval"] = 0, ["seed"] = 7,
    };

    public async Task InitializeAsync()
    {
        var instance = LocalPorts.FreeSiloInstances(1, first: 200)[0]; // the failover tests take theirs from 40
        var logs = Directory.CreateTempSubdirectory("insidellms-e2e-").FullName;
        var configuration = new Dictionary<string, string>
        {
            ["Training:AutoStart"] = "false", // the tests start their own runs
            ["Compute:Workers"] = "2",
            ["Compute:TorchThreadsPerWorker"] = "1",
            ["Training:SupervisorIntervalSeconds"] = "1",
        };
        _silo = await SiloProcess.StartStandaloneAsync(
            RepositoryPaths.SiloAssembly(typeof(OneSiloFixture).Assembly), instance, configuration, logs, SiloStartTimeout);
        Http = new HttpClient { BaseAddress = _silo.WebAddress, Timeout = TimeSpan.FromSeconds(60) };

        using var started = await Http.PostAsJsonAsync(Relative($"api/runs/{BaseRun}"), SmallSpec());
        Assert.True(started.IsSuccessStatusCode, $"POST run: {(int)started.StatusCode} {await started.Content.ReadAsStringAsync()}");
        var status = await WaitForRunAsync(BaseRun);
        Assert.True(status.GetProperty("phase").GetString() == "Completed", $"the base run ended {status}\n{Silo.Tail()}");
        using var published = await Http.PostAsJsonAsync(Relative($"api/versions/{BaseVersion}"), new { runId = BaseRun, stages = 2 });
        Assert.True(published.IsSuccessStatusCode, $"publish: {(int)published.StatusCode} {await published.Content.ReadAsStringAsync()}");
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        if (_silo is not null)
        {
            await _silo.DisposeAsync();
        }
    }

    public static Uri Relative(string path) => new(path, UriKind.Relative);

    /// <summary>Polls <c>GET /api/runs/{id}</c> until the run has left Starting/Running/Recovering; fails after a minute.</summary>
    public async Task<JsonElement> WaitForRunAsync(string runId)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var status = await Http.GetFromJsonAsync<JsonElement>(Relative($"api/runs/{runId}"));
            if (status.GetProperty("phase").GetString() is not ("Starting" or "Running" or "Recovering" or "NotStarted"))
            {
                return status;
            }

            Assert.True(waited.Elapsed < RunTimeout, $"run {runId} still {status.GetProperty("phase")} at step {status.GetProperty("step")} after {RunTimeout.TotalSeconds:F0} s\n{Silo.Tail()}");
            await Task.Delay(50);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class OneSiloCollection : ICollectionFixture<OneSiloFixture>
{
    public const string Name = "one silo process";
}
