using System.Globalization;
using InsideLLMs.Distributed.Tests.Processes;

namespace InsideLLMs.Distributed.Benchmarks;

/// <summary>
/// The page's load on real silo processes for as long as asked (<c>-- stress --minutes 30 --silos 1</c>): a (2,2,4) run
/// of the default model, a version republished every 10 s, every inspection view of the live run and of that version,
/// two streamed generation sessions, status polling and a rollback to the last checkpoint every 2 minutes. Prints steps,
/// failed steps, crashes, every endpoint's latency percentiles and each silo's resident memory over time with its slope
/// after warm-up. glibc's heap checks are on unless <c>--no-heap-checks</c> (they make a heap fault abort at once).
/// </summary>
internal static class StressSuite
{
    public static async Task<int> RunAsync(List<(string Suite, string Figure, string Value)> results, string[] args)
    {
        var minutes = DoubleOption(args, "--minutes") ?? 30;
        var siloCount = (int)(DoubleOption(args, "--silos") ?? 1);
        var heapChecks = !args.Contains("--no-heap-checks");
        if (minutes <= 0 || siloCount < 1)
        {
            Console.Error.WriteLine($"stress needs --minutes above 0 and --silos of at least 1; got {minutes} and {siloCount}.");
            return 2;
        }

        var siloAssembly = RepositoryPaths.SiloAssembly(typeof(StressSuite).Assembly);
        var logs = Directory.CreateTempSubdirectory("insidellms-stress-").FullName;
        var configuration = new Dictionary<string, string>(heapChecks ? PageLoad.HeapChecks() : [])
        {
            // Two cores in all: one silo takes both as two workers; several share them with a worker each.
            ["Compute:Workers"] = siloCount == 1 ? "2" : "1",
            ["Compute:TorchThreadsPerWorker"] = "1",
        };
        Console.WriteLine($"[stress] {siloCount} silo process(es), {minutes} min, heap checks {(heapChecks ? "on" : "off")}, logs in {logs}");
        var silos = new List<SiloProcess>();
        try
        {
            if (siloCount == 1)
            {
                var instance = LocalPorts.FreeSiloInstances(1, first: 300)[0];
                silos.Add(await SiloProcess.StartStandaloneAsync(siloAssembly, instance, configuration, logs, TimeSpan.FromSeconds(60)));
            }
            else
            {
                // --instance N joins the primary at instance 0's silo port: the local cluster's ports must be free.
                var busy = Enumerable.Range(0, siloCount).SelectMany(SiloProcess.PortsOf).Where(p => !LocalPorts.IsFree(p)).ToArray();
                if (busy.Length > 0)
                {
                    Console.Error.WriteLine($"Ports {string.Join(", ", busy)} are taken: stop the local silos first.");
                    return 2;
                }

                for (var i = 0; i < siloCount; i++)
                {
                    silos.Add(await SiloProcess.StartAsync(siloAssembly, i, configuration, logs, TimeSpan.FromSeconds(60)));
                }
            }

            var spec = PageLoad.Spec(layers: 4, width: 128, heads: 4, context: 64, batchSize: 4);
            spec["checkpointInterval"] = 50;
            spec["evalInterval"] = 250;
            spec["evalBatches"] = 4;
            var report = await PageLoad.RunAsync(silos, new PageLoadOptions(TimeSpan.FromMinutes(minutes), spec), line => Console.WriteLine($"[stress] {line}"));
            Console.WriteLine(report.Describe());
            var label = $"stress {siloCount} silo(s) {minutes:F0} min";
            results.Add(("stress", $"{label}: steps taken", report.StepsTaken.ToString(CultureInfo.InvariantCulture)));
            results.Add(("stress", $"{label}: failed steps / crashes", $"{report.FailedSteps.Count} / {report.Crashes.Count}"));
            results.Add(("stress", $"{label}: requests / errors", $"{report.Endpoints.Sum(e => e.Requests)} / {report.Endpoints.Sum(e => e.Errors)}"));
            foreach (var (silo, slope) in report.MemorySlopes())
            {
                results.Add(("stress", $"{label}: silo {silo} RSS slope after warm-up", string.Create(CultureInfo.InvariantCulture, $"{slope:F2} MB/min")));
            }

            return report.FailedSteps.Count == 0 && report.Crashes.Count == 0 && report.Endpoints.All(e => e.Errors == 0) ? 0 : 1;
        }
        finally
        {
            foreach (var silo in silos.AsEnumerable().Reverse()) // the primary last
            {
                await silo.DisposeAsync();
            }
        }
    }

    private static double? DoubleOption(string[] args, string name)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? double.Parse(args[index + 1], CultureInfo.InvariantCulture) : null;
    }
}
