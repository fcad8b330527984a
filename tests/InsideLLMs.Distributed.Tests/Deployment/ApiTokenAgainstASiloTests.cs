using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using InsideLLMs.Distributed.Silo.Extensions;
using InsideLLMs.Distributed.Tests.EndToEnd;
using InsideLLMs.Distributed.Tests.Processes;

namespace InsideLLMs.Distributed.Tests.Deployment;

/// <summary>
/// Against a real silo process listening on 0.0.0.0 with <c>Api:Token</c>: API writes without the token, or with another,
/// are 401 with <c>{"error": "..."}</c> and change nothing; with it they reach their endpoints; reads and the health
/// probes need no token; the dashboard is not served.
/// </summary>
[Collection(ExposedSiloCollection.Name)]
public sealed class ApiTokenAgainstASiloTests(ExposedSiloFixture silo)
{
    public static TheoryData<string, string> Writes => new()
    {
        { "api/runs/{run}", """{"steps": 2}""" },
        { "api/runs/{run}/stop", "" },
        { "api/runs/{run}/rollback", "" },
        { "api/versions/v-{run}", """{"runId": "{run}"}""" },
        { "api/versions/base/generate", """{"prompt": " the"}""" },
        { "api/rlhf/tasks", """{"count": 1}""" },
        { "api/rlhf/tasks/task-000001/rankings", """{"annotator": "a", "order": [0, 1, 2, 3]}""" },
    };

    [Theory]
    [MemberData(nameof(Writes))]
    public async Task Write_WithoutTheToken_Is401AndTheRunNeverStarts(string path, string body)
    {
        var run = $"no-token-{Guid.NewGuid():N}";

        using var response = await silo.Http.SendAsync(Post(path, body, run, authorization: null));

        await AssertRefusedAsync(response, "needs the API token: send 'Authorization: Bearer <token>'");
        await AssertNeverStartedAsync(run);
    }

    [Theory]
    [InlineData("Bearer wrong-token-0123456789abcdef")]
    [InlineData("Bearer " + ExposedSiloFixture.Token + "x")]
    [InlineData("Bearer")]
    [InlineData("Basic " + ExposedSiloFixture.Token)]
    public async Task StartRun_WithAnotherToken_Is401AndTheRunNeverStarts(string authorization)
    {
        var run = $"bad-token-{Guid.NewGuid():N}";

        using var response = await silo.Http.SendAsync(Post("api/runs/{run}", """{"steps": 2}""", run, authorization));

        await AssertRefusedAsync(response, authorization.StartsWith("Bearer ", StringComparison.Ordinal) ? "is not this silo's Api:Token" : "needs the API token");
        await AssertNeverStartedAsync(run);
    }

    [Fact]
    public async Task StartAndStopRun_WithTheToken_AreAccepted()
    {
        var run = $"with-token-{Guid.NewGuid():N}";
        var spec = JsonSerializer.Serialize(OneSiloFixture.SmallSpec(steps: 1000));

        using var started = await silo.Http.SendAsync(Post("api/runs/{run}", spec, run, $"Bearer {ExposedSiloFixture.Token}"));
        Assert.True(started.StatusCode == HttpStatusCode.OK, $"start: {(int)started.StatusCode} {await started.Content.ReadAsStringAsync()}\n{silo.Silo.Tail()}");
        using var stopped = await silo.Http.SendAsync(Post("api/runs/{run}/stop", "", run, $"Bearer {ExposedSiloFixture.Token}"));

        Assert.Equal(HttpStatusCode.OK, stopped.StatusCode);
        var status = await silo.Http.GetFromJsonAsync<JsonElement>(OneSiloFixture.Relative($"api/runs/{run}"));
        Assert.Equal("Stopped", status.GetProperty("phase").GetString());
    }

    [Fact]
    public async Task PublishAndRank_WithTheToken_ReachTheirEndpoints()
    {
        // Neither the run nor the task exists: the refusals come from the grains, past the token check.
        using var published = await silo.Http.SendAsync(Post("api/versions/v-{run}", """{"runId": "{run}"}""", $"never-{Guid.NewGuid():N}", $"Bearer {ExposedSiloFixture.Token}"));
        using var ranked = await silo.Http.SendAsync(Post("api/rlhf/tasks/task-999999/rankings", """{"annotator": "a", "order": [0, 1, 2, 3]}""", "", $"Bearer {ExposedSiloFixture.Token}"));

        Assert.Equal(HttpStatusCode.BadRequest, published.StatusCode);
        Assert.Contains("never-", await ErrorAsync(published), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, ranked.StatusCode);
        Assert.Contains("task-999999", await ErrorAsync(ranked), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("api/versions")]
    [InlineData("api/cluster")]
    [InlineData("api/rlhf/rankings")]
    public async Task Read_WithoutTheToken_Is200(string path)
    {
        using var response = await silo.Http.GetAsync(OneSiloFixture.Relative(path));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData(HealthExtensions.Startup, "The host has started.")]
    [InlineData(HealthExtensions.Ready, "is Active in the cluster.")]
    [InlineData(HealthExtensions.Live, "is Active.")]
    public async Task HealthProbe_OfAJoinedSilo_IsHealthyWithoutTheToken(string path, string description)
    {
        using var response = await silo.Http.GetAsync(OneSiloFixture.Relative(path.TrimStart('/')));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var health = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("Healthy", health.GetProperty("status").GetString());
        Assert.Contains(description, health.GetProperty("description").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dashboard_BeyondLoopback_IsNotServed()
    {
        using var response = await silo.Http.GetAsync(OneSiloFixture.Relative("dashboard"));
        var body = await response.Content.ReadAsStringAsync();

        Assert.DoesNotContain("Orleans Dashboard", body, StringComparison.OrdinalIgnoreCase);
        Assert.NotEqual(HttpStatusCode.OK, response.StatusCode);
    }

    internal static HttpRequestMessage Post(string path, string body, string run, string? authorization)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, OneSiloFixture.Relative(path.Replace("{run}", run, StringComparison.Ordinal)))
        {
            Content = new StringContent(body.Replace("{run}", run, StringComparison.Ordinal), Encoding.UTF8, "application/json"),
        };
        if (authorization is not null)
        {
            request.Headers.Authorization = AuthenticationHeaderValue.Parse(authorization);
        }

        return request;
    }

    private async Task AssertNeverStartedAsync(string run)
    {
        var status = await silo.Http.GetFromJsonAsync<JsonElement>(OneSiloFixture.Relative($"api/runs/{run}"));
        Assert.Equal("NotStarted", status.GetProperty("phase").GetString());
    }

    private static async Task AssertRefusedAsync(HttpResponseMessage response, string message)
    {
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Contains(message, await ErrorAsync(response), StringComparison.Ordinal);
    }

    private static async Task<string> ErrorAsync(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString() ?? "";
}

/// <summary>A silo that would listen beyond loopback without a token does not start, and says why.</summary>
public sealed class ExposedWithoutATokenTests
{
    [Fact]
    public async Task Start_OnEveryAddressWithoutApiToken_ExitsNamingApiToken()
    {
        var instance = LocalPorts.FreeSiloInstances(1, first: 320)[0];
        var silo = RepositoryPaths.SiloAssembly(typeof(ExposedWithoutATokenTests).Assembly);
        // Run to its end with the whole console read (not through SiloProcess, whose log may miss the last lines of a
        // process that dies at once).
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(silo)!,
        };
        start.ArgumentList.Add(silo);
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        foreach (var (key, value) in ExposedSiloFixture.EveryAddress(instance))
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"The silo was still running after 60 s without a token on 0.0.0.0:\n{await output}");
        }

        var console = await output + await errors;
        Assert.NotEqual(0, process.ExitCode);
        Assert.Contains("without Api:Token: anyone who reaches that port could start, stop and publish runs", console, StringComparison.Ordinal);
        Assert.DoesNotContain("InsideLLMs silo ready", console, StringComparison.Ordinal);
    }
}

/// <summary>On loopback only (the end-to-end silo, no token configured) writes need no token, the probes answer and the dashboard is served.</summary>
[Collection(OneSiloCollection.Name)]
public sealed class LoopbackAccessTests(OneSiloFixture silo)
{
    [Fact]
    public async Task StartAndStopRun_OnLoopbackWithoutAToken_AreAccepted()
    {
        var run = $"loopback-{Guid.NewGuid():N}";

        using var started = await silo.Http.SendAsync(ApiTokenAgainstASiloTests.Post("api/runs/{run}", JsonSerializer.Serialize(OneSiloFixture.SmallSpec(steps: 1000)), run, authorization: null));
        using var stopped = await silo.Http.SendAsync(ApiTokenAgainstASiloTests.Post("api/runs/{run}/stop", "", run, authorization: null));

        Assert.True(started.StatusCode == HttpStatusCode.OK, $"start: {(int)started.StatusCode} {await started.Content.ReadAsStringAsync()}");
        Assert.Equal(HttpStatusCode.OK, stopped.StatusCode);
    }

    [Theory]
    [InlineData(HealthExtensions.Startup)]
    [InlineData(HealthExtensions.Ready)]
    [InlineData(HealthExtensions.Live)]
    public async Task HealthProbe_OnLoopback_Is200(string path)
    {
        using var response = await silo.Http.GetAsync(OneSiloFixture.Relative(path.TrimStart('/')));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Dashboard_OnLoopback_IsServed()
    {
        using var response = await silo.Http.GetAsync(OneSiloFixture.Relative("dashboard"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
