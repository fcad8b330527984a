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

    [Fact]
    public async Task PageLoad_OnOneSilo_NoFailedStepNoCrashAndEveryRequestAnswered()
    {
        var instance = LocalPorts.FreeSiloInstances(1, first: 240)[0];
        var logs = Directory.CreateTempSubdirectory("insidellms-pageload-").FullName;
        var configuration = new Dictionary<string, string>(PageLoad.HeapChecks())
        {
            ["Compute:Workers"] = "2",
            ["Compute:TorchThreadsPerWorker"] = "1",
            ["Inspection:LiveRefreshSeconds"] = "1",
        };
        await using var silo = await SiloProcess.StartStandaloneAsync(
            RepositoryPaths.SiloAssembly(typeof(PageLoadTests).Assembly), instance, configuration, logs, TimeSpan.FromSeconds(60));

        var report = await PageLoad.RunAsync(
            [silo],
            new PageLoadOptions(Duration, PageLoad.Spec(), PublishEvery: TimeSpan.FromSeconds(5), RollBackEvery: TimeSpan.FromSeconds(20), SampleEvery: TimeSpan.FromSeconds(3)),
            output.WriteLine);
        output.WriteLine(report.Describe());

        Assert.True(report.Crashes.Count == 0, report.Describe());
        Assert.True(report.FailedSteps.Count == 0, report.Describe() + "\n" + silo.Tail());
        Assert.Equal("Running", report.Phase);
        Assert.True(report.RequestedRollBacks >= 2, $"only {report.RequestedRollBacks} rollbacks were taken");
        Assert.True(report.StepsTaken > 0, report.Describe());
        Assert.All(report.Endpoints, e => Assert.True(e.Errors == 0, $"{e.Endpoint}: {e.Errors} errors\n{report.Describe()}"));
        // Only a generation on the version being republished may be told its version changed under it.
        Assert.All(report.Endpoints.Where(e => e.Endpoint != "POST generate republished"), e => Assert.True(e.Conflicts == 0, $"{e.Endpoint}: {e.Conflicts} 409s\n{report.Describe()}"));
        foreach (var view in new[] { "attention", "qkv", "next", "embeddings", "lens", "neighbours" })
        {
            Assert.Contains(report.Endpoints, e => e.Endpoint == $"GET live {view}" && e.Requests > 0);
            Assert.Contains(report.Endpoints, e => e.Endpoint == $"GET version {view}" && e.Requests > 0);
        }

        Assert.Contains(report.Endpoints, e => e.Endpoint == "POST generate stable" && e.Requests > e.Conflicts);
    }
}
