using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace InsideLLMs.Distributed.Tests.Processes;

/// <summary>A one-layer model trained for three steps and published, so that ranking tasks can sample from it.</summary>
internal static class TinyVersion
{
    public static async Task PublishAsync(HttpClient http, string version, Func<string> diagnostics)
    {
        var run = $"{version}-run";
        var spec = new Dictionary<string, object>
        {
            ["stages"] = 1, ["replicas"] = 1, ["microBatches"] = 1, ["layers"] = 1, ["width"] = 16, ["heads"] = 2, ["context"] = 32,
            ["batchSize"] = 2, ["steps"] = 3, ["warmupSteps"] = 1, ["checkpointInterval"] = 0, ["evalInterval"] = 0, ["seed"] = 3,
        };
        using (var started = await http.PostAsJsonAsync(new Uri($"api/runs/{run}", UriKind.Relative), spec))
        {
            Assert.True(started.IsSuccessStatusCode, $"start: {(int)started.StatusCode} {await started.Content.ReadAsStringAsync()}");
        }

        var waited = Stopwatch.StartNew();
        while ((await http.GetFromJsonAsync<JsonElement>(new Uri($"api/runs/{run}", UriKind.Relative))).GetProperty("phase").GetString() != "Completed")
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(60), $"the tiny run did not complete\n{diagnostics()}");
            await Task.Delay(100);
        }

        using var published = await http.PostAsJsonAsync(new Uri($"api/versions/{version}", UriKind.Relative), new { runId = run, stages = 1 });
        Assert.True(published.IsSuccessStatusCode, $"publish: {(int)published.StatusCode} {await published.Content.ReadAsStringAsync()}");
    }
}
