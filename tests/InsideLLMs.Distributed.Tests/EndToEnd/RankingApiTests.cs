using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using InsideLLMs.Distributed.Client.Cli;
using InsideLLMs.Distributed.Tests.Client;
using static InsideLLMs.Distributed.Tests.EndToEnd.OneSiloFixture;

namespace InsideLLMs.Distributed.Tests.EndToEnd;

/// <summary>
/// Ranking collection against the real silo process, over HTTP and through the client: tasks sampled from the base
/// version, a ranking stored once, a resubmission answered with the first receipt, and every bad input refused with
/// its reason and nothing stored.
/// </summary>
[Collection(OneSiloCollection.Name)]
public sealed class RankingApiTests(OneSiloFixture silo)
{
    private HttpClient Http => silo.Http;

    [Fact]
    public async Task CreateTasks_SamplesKCompletionsFromTheVersion_ForTheRankingPrompts()
    {
        var tasks = await CreateAsync(count: 2, k: 3);

        Assert.Equal(2, tasks.Count);
        Assert.All(tasks, t =>
        {
            Assert.StartsWith(" describe ", t.GetProperty("prompt").GetString(), StringComparison.Ordinal);
            Assert.Equal(3, t.GetProperty("completions").GetArrayLength());
            Assert.Equal(BaseVersion, t.GetProperty("version").GetString());
        });
        Assert.NotEqual(tasks[0].GetProperty("id").GetString(), tasks[1].GetProperty("id").GetString());
        // Completions are sampled at Rlhf:RankingTemperature with a seed each: not all the same text.
        Assert.True(tasks.SelectMany(t => t.GetProperty("completions").EnumerateArray().Select(c => c.GetString())).Distinct().Count() > 1);
    }

    [Fact]
    public async Task Submit_StoresOnce_AndAResubmissionReturnsTheFirstReceipt()
    {
        var id = (await CreateAsync(count: 1, k: 4))[0].GetProperty("id").GetString()!;

        var first = await SubmitAsync(id, new { annotator = "ann", order = new[] { 2, 0, 3, 1 } });
        var again = await SubmitAsync(id, new { annotator = "ann", order = new[] { 0, 1, 2, 3 } });

        Assert.False(first.GetProperty("duplicate").GetBoolean());
        Assert.True(again.GetProperty("duplicate").GetBoolean());
        Assert.Equal(first.GetProperty("receiptId").GetString(), again.GetProperty("receiptId").GetString());
        Assert.Equal([2, 0, 3, 1], again.GetProperty("order").EnumerateArray().Select(e => e.GetInt32()));
        var stored = await Http.GetFromJsonAsync<JsonElement>(Relative($"api/rlhf/tasks/{id}/rankings"));
        Assert.Equal(1, stored.GetArrayLength());
    }

    [Theory]
    [InlineData("""{"annotator": "ann", "order": [0, 1, 2]}""", HttpStatusCode.BadRequest, "The task has 4 completions but the order [0, 1, 2] lists 3")]
    [InlineData("""{"annotator": "ann", "order": [0, 1, 1, 2]}""", HttpStatusCode.BadRequest, "lists completion 1 twice")]
    [InlineData("""{"annotator": "ann lee", "order": [0, 1, 2, 3]}""", HttpStatusCode.BadRequest, "An annotator id has only letters, digits and . _ - @; 'ann lee' has ' '.")]
    [InlineData("""{"order": [0, 1, 2, 3]}""", HttpStatusCode.BadRequest, "A ranking needs an annotator id")]
    [InlineData("""{"annotator": "ann", "ordre": [0, 1, 2, 3]}""", HttpStatusCode.BadRequest, "Unknown field 'ordre'. Known fields: annotator, order, simulated.")]
    [InlineData("""{"annotator": "ann", "order": "0 1 2 3"}""", HttpStatusCode.BadRequest, "Field 'order' must be")]
    [InlineData("""{"annotator": "ann", "order": [0, 1, 2, 3]""", HttpStatusCode.BadRequest, "The body is not valid JSON")]
    public async Task Submit_BadInput_IsRefusedWithTheReason_AndNothingIsStored(string body, HttpStatusCode status, string message)
    {
        var id = (await CreateAsync(count: 1, k: 4))[0].GetProperty("id").GetString()!;

        using var response = await Http.PostAsync(Relative($"api/rlhf/tasks/{id}/rankings"), new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        await AssertErrorAsync(response, status, message);
        var stored = await Http.GetFromJsonAsync<JsonElement>(Relative($"api/rlhf/tasks/{id}/rankings"));
        Assert.Equal(0, stored.GetArrayLength());
    }

    [Fact]
    public async Task Submit_OversizedPayload_Is413_AndNothingIsStored()
    {
        var id = (await CreateAsync(count: 1, k: 2))[0].GetProperty("id").GetString()!;
        var body = $$"""{"annotator": "ann", "order": [{{string.Join(", ", Enumerable.Repeat("0", 600_000))}}]}""";

        using var response = await Http.PostAsync(Relative($"api/rlhf/tasks/{id}/rankings"), new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        await AssertErrorAsync(response, HttpStatusCode.RequestEntityTooLarge, "(Api:MaxRequestBytes)");
        Assert.Equal(0, (await Http.GetFromJsonAsync<JsonElement>(Relative($"api/rlhf/tasks/{id}/rankings"))).GetArrayLength());
    }

    [Fact]
    public async Task Submit_UnknownTask_Is400NamingIt()
    {
        using var response = await Http.PostAsJsonAsync(Relative("api/rlhf/tasks/task-999999/rankings"), new { annotator = "ann", order = new[] { 0, 1 } });

        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "Unknown ranking task 'task-999999'.");
    }

    [Theory]
    [InlineData("""{"count": 1, "k": 10}""", "A ranking task has from 2 to 9 completions; got 10.")]
    [InlineData("""{"count": 0}""", "Create from 1 to 100 ranking tasks at a time; got 0.")]
    [InlineData("""{"version": "no-such-version"}""", "Unknown version 'no-such-version'")]
    public async Task CreateTasks_BadRequest_Is400_AndNoTaskIsMade(string body, string message)
    {
        var before = (await Http.GetFromJsonAsync<JsonElement>(Relative("api/rlhf/rankings"))).GetProperty("tasks").GetInt32();

        using var response = await Http.PostAsync(Relative("api/rlhf/tasks"), new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        await AssertErrorAsync(response, HttpStatusCode.BadRequest, message);
        Assert.Equal(before, (await Http.GetFromJsonAsync<JsonElement>(Relative("api/rlhf/rankings"))).GetProperty("tasks").GetInt32());
    }

    [Fact]
    public async Task ClientRank_ReadsTheOrderFromStdin_StoresIt_AndTheSecondTimeSaysTheFirstStands()
    {
        var id = (await CreateAsync(count: 1, k: 3))[0].GetProperty("id").GetString()!;
        string[] rank = ["rank", "--gateway", silo.Gateway, "--version", BaseVersion, "--task", id, "--annotator", "cli-ann"];

        var first = await CliRun.RunWithInputAsync("3 1\n3 1 2\n", rank);
        var second = await CliRun.RunWithInputAsync("1 2 3\n", rank);

        Assert.True(first.ExitCode == ExitCodes.Success, first.Stderr);
        Assert.Contains("Type each of the numbers 1 to 3 once, best first; got '3 1'.", first.Stderr, StringComparison.Ordinal); // asked again
        Assert.Contains($"Stored {id}#1: 3 > 1 > 2, ranking 1 of this task.", first.Stdout, StringComparison.Ordinal);
        Assert.Contains("your first ranking stands", second.Stdout, StringComparison.Ordinal);
        var stored = await Http.GetFromJsonAsync<JsonElement>(Relative($"api/rlhf/tasks/{id}/rankings"));
        Assert.Equal([2, 0, 1], Assert.Single(stored.EnumerateArray()).GetProperty("order").EnumerateArray().Select(e => e.GetInt32()));
    }

    [Fact]
    public async Task ClientRank_BadOrderOption_ExitsTwo_AndNothingIsStored()
    {
        var id = (await CreateAsync(count: 1, k: 3))[0].GetProperty("id").GetString()!;

        var run = await CliRun.RunAsync("rank", "--gateway", silo.Gateway, "--task", id, "--annotator", "cli-bad", "--order", "1 1 2");

        Assert.Equal(ExitCodes.Usage, run.ExitCode);
        Assert.Contains("error: Type each of the numbers 1 to 3 once, best first; got '1 1 2'.", run.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, (await Http.GetFromJsonAsync<JsonElement>(Relative($"api/rlhf/tasks/{id}/rankings"))).GetArrayLength());
    }

    [Fact]
    public async Task ClientRankSimulate_StoresSimulatedRankings_CountedInTheStatus()
    {
        var before = await StatusAsync();

        var run = await CliRun.RunAsync("rank", "--gateway", silo.Gateway, "--version", BaseVersion, "--k", "3", "--simulate", "3", "--noise", "0.2", "--annotator", "sim-e2e", "--json");

        Assert.True(run.ExitCode == ExitCodes.Success, run.Stderr);
        using var document = JsonDocument.Parse(run.Stdout);
        var rankings = document.RootElement.GetProperty("rankings").EnumerateArray().ToList();
        Assert.Equal(3, rankings.Count);
        Assert.All(rankings, r => Assert.True(r.GetProperty("simulated").GetBoolean()));
        var after = await StatusAsync();
        Assert.Equal(before.GetProperty("rankings").GetInt64() + 3, after.GetProperty("rankings").GetInt64());
        Assert.Equal(before.GetProperty("simulated").GetInt64() + 3, after.GetProperty("simulated").GetInt64());
    }

    /// <summary>
    /// The reward-model endpoints and verb refuse what has no score head, with the reason: a run that never started, a
    /// run of another objective (400 over HTTP, exit 2 in the client), and a malformed score request (400).
    /// </summary>
    [Fact]
    public async Task RewardModel_OfNoRewardRun_IsRefusedWithTheReason()
    {
        using var missing = await Http.GetAsync(Relative("api/rlhf/reward/no-such-reward-run"));
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Contains("has never started", await missing.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var language = await Http.PostAsJsonAsync(Relative($"api/rlhf/reward/{BaseRun}/score"), new { prompt = "the cat", completions = new[] { "sat" } });
        Assert.Equal(HttpStatusCode.BadRequest, language.StatusCode);
        Assert.Contains("only a run with objective 'reward' has a score head", await language.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var malformed = await Http.PostAsync(Relative($"api/rlhf/reward/{BaseRun}/score"),
            new StringContent("""{"prompt": "the cat", "completions": ["sat"], "temperature": 2}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        Assert.Contains("temperature", await malformed.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var run = await CliRun.RunAsync("rlhf", "reward", "--gateway", silo.Gateway, "--run", BaseRun, "--prompt", "the cat", "sat", "ran");
        Assert.Equal(ExitCodes.Usage, run.ExitCode);
        Assert.Contains("only a run with objective 'reward' has a score head", run.Stderr, StringComparison.Ordinal);

        var unpaired = await CliRun.RunAsync("rlhf", "reward", "--gateway", silo.Gateway, "--run", BaseRun, "sat");
        Assert.Equal(ExitCodes.Usage, unpaired.ExitCode);
        Assert.Contains("give it with --prompt", unpaired.Stderr, StringComparison.Ordinal);
    }

    private async Task<JsonElement> StatusAsync()
    {
        var run = await CliRun.RunAsync("rlhf", "status", "--gateway", silo.Gateway, "--json");
        Assert.True(run.ExitCode == ExitCodes.Success, run.Stderr);
        using var document = JsonDocument.Parse(run.Stdout);
        return document.RootElement.Clone();
    }

    private async Task<List<JsonElement>> CreateAsync(int count, int k)
    {
        using var response = await Http.PostAsJsonAsync(Relative("api/rlhf/tasks"), new { count, k, version = BaseVersion });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"create tasks: {(int)response.StatusCode} {body}");
        return [.. JsonDocument.Parse(body).RootElement.EnumerateArray().Select(e => e.Clone())];
    }

    private async Task<JsonElement> SubmitAsync(string id, object ranking)
    {
        using var response = await Http.PostAsJsonAsync(Relative($"api/rlhf/tasks/{id}/rankings"), ranking);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"submit: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    private static async Task AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string message)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Contains(message, JsonDocument.Parse(body).RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
    }
}
