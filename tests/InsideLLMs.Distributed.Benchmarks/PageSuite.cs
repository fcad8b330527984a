using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using InsideLLMs.Distributed.Tests.Processes;
using Microsoft.Playwright;

namespace InsideLLMs.Distributed.Benchmarks;

/// <summary>
/// What open walkthrough pages cost the silo while it trains (<c>-- page [--seconds 60] [--pages 1,4]</c>): a silo
/// process trains its default run; for 0, then each count of open Chromium tabs, it measures the silo's CPU over the
/// window from <c>/proc</c>, split between its compute threads (the training) and every other thread (Orleans, the
/// page circuits, the HTTP server), the browser's own CPU, and the steps the run took. The page's cost is the growth
/// of the non-compute CPU per open tab. Debian's Chromium at /usr/bin/chromium.
/// </summary>
internal static class PageSuite
{
    private const string Chromium = "/usr/bin/chromium";
    private static readonly double TicksPerSecond = 100; // USER_HZ on Linux

    public static async Task<int> RunAsync(List<(string Suite, string Figure, string Value)> results, string[] args)
    {
        var seconds = Option(args, "--seconds") is { } s ? double.Parse(s, CultureInfo.InvariantCulture) : 60;
        var counts = (Option(args, "--pages") ?? "1,4").Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToArray();
        if (seconds <= 0 || counts.Any(c => c < 1) || !File.Exists(Chromium))
        {
            Console.Error.WriteLine($"page needs --seconds above 0, --pages of counts of at least 1, and {Chromium}.");
            return 2;
        }

        var logs = Directory.CreateTempSubdirectory("insidellms-page-bench-").FullName;
        var instance = LocalPorts.FreeSiloInstances(1, first: 320)[0];
        await using var silo = await SiloProcess.StartStandaloneAsync(
            RepositoryPaths.SiloAssembly(typeof(PageSuite).Assembly), instance,
            new Dictionary<string, string>
            {
                ["Compute:Workers"] = "2", ["Compute:TorchThreadsPerWorker"] = "1",
                ["Training:AutoStart"] = "true", ["Training:PublishEverySeconds"] = "10",
            },
            logs, TimeSpan.FromSeconds(60));
        using var http = new HttpClient { BaseAddress = silo.WebAddress };
        Console.WriteLine($"[page] silo pid {silo.ProcessId} at {silo.WebAddress}, logs in {logs}; waiting for the default run and its version");
        while (await StepAsync(http) < 5)
        {
            await Task.Delay(1000);
        }

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        });
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });

        var rows = new List<(int Pages, Sample Sample)> { (0, await MeasureAsync(silo, http, seconds)) };
        foreach (var count in counts)
        {
            while (context.Pages.Count < count)
            {
                var page = await context.NewPageAsync();
                await page.GotoAsync(silo.WebAddress.ToString());
                await Assertions.Expect(page.Locator("#timeline")).ToBeVisibleAsync(new() { Timeout = 120_000 });
            }

            await Task.Delay(5000); // every tab past its first loads
            rows.Add((count, await MeasureAsync(silo, http, seconds)));
        }

        var idle = rows[0].Sample;
        Console.WriteLine();
        Console.WriteLine($"{"tabs",4} {"silo CPU",9} {"training",9} {"other",9} {"other/tab",10} {"browser",9} {"steps/s",8}   (CPU in cores, over {seconds:F0} s each)");
        foreach (var (pages, sample) in rows)
        {
            var perTab = pages == 0 ? "" : ((sample.Other - idle.Other) / pages).ToString("F3", CultureInfo.InvariantCulture);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{pages,4} {sample.Compute + sample.Other,9:F3} {sample.Compute,9:F3} {sample.Other,9:F3} {perTab,10} {sample.Browser,9:F3} {sample.StepsPerSecond,8:F2}"));
            results.Add(("page", $"{pages} tab(s): silo non-compute CPU, cores", sample.Other.ToString("F3", CultureInfo.InvariantCulture)));
            results.Add(("page", $"{pages} tab(s): training steps/s", sample.StepsPerSecond.ToString("F2", CultureInfo.InvariantCulture)));
            if (pages > 0)
            {
                results.Add(("page", $"{pages} tab(s): silo CPU per open tab, cores", perTab));
            }
        }

        return 0;
    }

    private sealed record Sample(double Compute, double Other, double Browser, double StepsPerSecond);

    private static async Task<Sample> MeasureAsync(SiloProcess silo, HttpClient http, double seconds)
    {
        var (compute0, other0) = ThreadTicks(silo.ProcessId);
        var browser0 = BrowserTicks();
        var step0 = await StepAsync(http);
        await Task.Delay(TimeSpan.FromSeconds(seconds));
        var (compute1, other1) = ThreadTicks(silo.ProcessId);
        var browser1 = BrowserTicks();
        var step1 = await StepAsync(http);
        double Cores(double ticks) => ticks / TicksPerSecond / seconds;
        return new Sample(Cores(compute1 - compute0), Cores(other1 - other0), Cores(browser1 - browser0), (step1 - step0) / seconds);
    }

    private static async Task<long> StepAsync(HttpClient http)
    {
        var status = await http.GetFromJsonAsync<JsonElement>(new Uri("api/runs/default", UriKind.Relative));
        return status.GetProperty("step").GetInt64();
    }

    /// <summary>CPU ticks (user + system) of the process's compute threads and of all its other threads.</summary>
    /// <remarks>A thread that ended during the window takes its ticks with it; the silo's threads are long-lived.</remarks>
    private static (long Compute, long Other) ThreadTicks(int pid)
    {
        long compute = 0, other = 0;
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            try
            {
                var name = File.ReadAllText(Path.Combine(task, "comm")).Trim();
                var ticks = Ticks(File.ReadAllText(Path.Combine(task, "stat")));
                if (name.StartsWith("compute-", StringComparison.Ordinal))
                {
                    compute += ticks;
                }
                else
                {
                    other += ticks;
                }
            }
            catch (IOException)
            {
                // The thread ended between listing and reading.
            }
        }

        return (compute, other);
    }

    /// <summary>CPU ticks of every Chromium process (the tabs' rendering, which shares the machine's cores).</summary>
    private static long BrowserTicks()
    {
        long total = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)))
        {
            try
            {
                if (File.ReadAllText(Path.Combine(dir, "comm")).Trim().StartsWith("chrom", StringComparison.Ordinal))
                {
                    total += Ticks(File.ReadAllText(Path.Combine(dir, "stat")));
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process ended between listing and reading.
            }
        }

        return total;
    }

    /// <summary>utime + stime, fields 14 and 15 of /proc/.../stat, counted after the parenthesised name.</summary>
    private static long Ticks(string stat)
    {
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }

    private static string? Option(string[] args, string name)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
    }
}
