using Xunit.Abstractions;

namespace InsideLLMs.Distributed.Tests.Processes;

/// <summary>
/// A short run of the page's load (the benchmark suite <c>stress</c> runs it for as long as asked) against one real silo
/// process with glibc's heap checks on: training, republishing, every inspection view of the live run and of the version
/// being republished, streamed generations and rollbacks, all at once. It once crashed a silo within minutes
/// (temporary TorchSharp scalars and tensors finalized while libtorch used them, and models freed under running work).
/// </summary>
[Collection(AloneCollection.Name)]
public sealed class PageLoadTests(ITestOutputHelper output)
{
    public static readonly TimeSpan Duration = TimeSpan.FromSeconds(75);

    /// <summary>A (2,2,4) run of a small model that checkpoints every 10 steps and validates every 50.</summary>
    public static Dictionary<string, object> Spec(int layers = 2, int width = 64, int heads = 2, int context = 32, int batchSize = 4) => new()
    {
        ["stages"] = 2, ["replicas"] = 2, ["microBatches"] = 4, ["layers"] = layers, ["width"] = width, ["heads"] = heads,
        ["context"] = context, ["batchSize"] = batchSize, ["steps"] = 1_000_000, ["warmupSteps"] = 10, ["checkpointInterval"] = 10,
        ["evalInterval"] = 50, ["evalBatches"] = 2, ["seed"] = 11,
    };

    /// <summary>glibc's heap checks: abort on a corrupt chunk, fill freed and new memory with a pattern, so a use after free shows at once.</summary>
    public static Dictionary<string, string> HeapChecks()
    {
        var checks = new Dictionary<string, string> { ["MALLOC_CHECK_"] = "3", ["MALLOC_PERTURB_"] = "165" };
        const string debugLibrary = "/lib/x86_64-linux-gnu/libc_malloc_debug.so.0"; // glibc 2.34+ keeps MALLOC_CHECK_ here
        if (File.Exists(debugLibrary))
        {
            checks["LD_PRELOAD"] = debugLibrary;
        }

        return checks;
    }

    [Fact]
    public async Task PageLoad_OnOneSilo_NoFailedStepNoCrashAndEveryRequestAnswered()
    {
        var instance = LocalPorts.FreeSiloInstances(1, first: 240)[0];
        var logs = Directory.CreateTempSubdirectory("insidellms-pageload-").FullName;
        var configuration = new Dictionary<string, string>(HeapChecks())
        {
            ["Compute:Workers"] = "2",
            ["Compute:TorchThreadsPerWorker"] = "1",
            ["Inspection:LiveRefreshSeconds"] = "1",
        };
        await using var silo = await SiloProcess.StartStandaloneAsync(
            RepositoryPaths.SiloAssembly(typeof(PageLoadTests).Assembly), instance, configuration, logs, TimeSpan.FromSeconds(60));

        var report = await PageLoad.RunAsync(
            [silo],
            new PageLoadOptions(Duration, Spec(), PublishEvery: TimeSpan.FromSeconds(5), RollBackEvery: TimeSpan.FromSeconds(20), SampleEvery: TimeSpan.FromSeconds(3)),
            output.WriteLine);
        output.WriteLine(report.Describe());

        Assert.True(report.Crashes.Count == 0, report.Describe());
        Assert.True(report.FailedSteps.Count == 0, report.Describe() + "\n" + silo.Tail());
        Assert.Equal("Running", report.Phase);
        Assert.True(report.RequestedRollBacks >= 2, $"only {report.RequestedRollBacks} rollbacks were taken");
        Assert.True(report.StepsTaken > 0, report.Describe());
        Assert.All(report.Endpoints, e => Assert.True(e.Errors == 0, $"{e.Endpoint}: {e.Errors} errors\n{report.Describe()}"));
        foreach (var view in new[] { "attention", "qkv", "next", "embeddings", "lens", "neighbours" })
        {
            Assert.Contains(report.Endpoints, e => e.Endpoint == $"GET live {view}" && e.Requests > 0);
            Assert.Contains(report.Endpoints, e => e.Endpoint == $"GET version {view}" && e.Requests > 0);
        }

        Assert.Contains(report.Endpoints, e => e.Endpoint == "POST generate stable" && e.Requests > e.Conflicts);
    }
}
