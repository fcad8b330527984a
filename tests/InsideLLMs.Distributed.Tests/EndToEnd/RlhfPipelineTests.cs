using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Xunit.Abstractions;

namespace InsideLLMs.Distributed.Tests.EndToEnd;

/// <summary>
/// The RLHF pipeline on a silo process with its in-memory MassTransit bus: SFT from a published base model, the reward
/// model, PPO and the policy published, each stage started by the event that ended the one before it coming back over
/// the bus; and a ranking-gated reward stage that waits for <c>RankingBatchReady</c>.
/// </summary>
[Collection(OneSiloCollection.Name)]
public sealed class RlhfPipelineTests(OneSiloFixture silo, ITestOutputHelper output)
{
    private static readonly TimeSpan PipelineTimeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task ThePipeline_RunsEveryStage_EachStartedByThePreviousStagesEvent_AndPublishesTheAlignedModel()
    {
        await BaseAsync();
        var refused = await silo.Http.PostAsJsonAsync(OneSiloFixture.Relative("api/rlhf/pipeline"), new { stages = new[] { "ppo", "sft" } });
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("in the pipeline's order", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var tooFew = await silo.Http.PostAsJsonAsync(OneSiloFixture.Relative("api/rlhf/pipeline"), new { ppoRollouts = 1 });
        Assert.Equal(HttpStatusCode.BadRequest, tooFew.StatusCode);
        Assert.Contains("ppoRollouts must be at least 2; got 1", await tooFew.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var started = await silo.Http.PostAsJsonAsync(OneSiloFixture.Relative("api/rlhf/pipeline"), new
        {
            baseVersion = "pipe-base", sftRun = "pipe-sft", rewardRun = "pipe-reward", ppoRun = "pipe-ppo", version = "pipe-assistant",
            sftSteps = 4, rewardSteps = 4, rankings = "synthetic", ppoIterations = 3, ppoRollouts = 4,
        });
        Assert.True(started.IsSuccessStatusCode, await started.Content.ReadAsStringAsync());

        var status = await WaitAsync(s => s.GetProperty("phase").GetString() != "running");
        output.WriteLine(status.ToString());
        Assert.Equal("completed", status.GetProperty("phase").GetString());
        Assert.All(status.GetProperty("stages").EnumerateArray(), s => Assert.Equal("done", s.GetProperty("state").GetString()));
        var events = status.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("name").GetString()!).ToArray();
        // Each stage's event was published, came back over the bus, and only then did the next stage begin.
        Assert.Equal(
            ["published SftCompleted", "SftCompleted", "published RankingBatchReady", "RankingBatchReady", "published RewardModelTrained", "RewardModelTrained",
             "PolicyUpdated", "published ModelPublished", "ModelPublished"],
            events);

        var version = await silo.Http.GetFromJsonAsync<JsonElement>(OneSiloFixture.Relative("api/versions/pipe-assistant"));
        Assert.Equal("ppo:pipe-ppo", version.GetProperty("runId").GetString());
        Assert.Equal(3, version.GetProperty("step").GetInt64());
        var ppo = await silo.Http.GetFromJsonAsync<JsonElement>(OneSiloFixture.Relative("api/rlhf/ppo/pipe-ppo"));
        Assert.Equal("pipe-sft", ppo.GetProperty("spec").GetProperty("policyRun").GetString());
        Assert.Equal(3, ppo.GetProperty("history").GetArrayLength());
    }

    [Fact]
    public async Task AGatedRewardStage_WaitsForRankingBatchReady_ThenTrainsOnTheStoredRankings()
    {
        await BaseAsync();
        // Only the reward stage, from the SFT version the other test published (or this one publishes first).
        await SftVersionAsync();
        var before = (await silo.Http.GetFromJsonAsync<JsonElement>(OneSiloFixture.Relative("api/rlhf/rankings"))).GetProperty("rankings").GetInt64();
        var started = await silo.Http.PostAsJsonAsync(OneSiloFixture.Relative("api/rlhf/pipeline"), new
        {
            stages = new[] { "reward" }, sftRun = "pipe-sft-gated", rewardRun = "pipe-reward-gated", rewardSteps = 2, rankings = "cluster", minRankings = before + 2,
        });
        Assert.True(started.IsSuccessStatusCode, await started.Content.ReadAsStringAsync());
        var waiting = await WaitAsync(s => Stage(s, "reward").GetProperty("state").GetString() == "waiting");
        Assert.Contains($"{before} of {before + 2} rankings stored", Stage(waiting, "reward").GetProperty("progress").GetString(), StringComparison.Ordinal);

        // Two rankings of tasks of 4 from the SFT version: each stored ranking's event is counted; the second opens the gate.
        for (var i = 0; i < 2; i++)
        {
            var task = await silo.Http.GetFromJsonAsync<JsonElement>(OneSiloFixture.Relative($"api/rlhf/tasks/next?annotator=gate-{i}&k=4&version=pipe-sft-gated"));
            var stored = await silo.Http.PostAsJsonAsync(OneSiloFixture.Relative($"api/rlhf/tasks/{task.GetProperty("id").GetString()}/rankings"), new { annotator = $"gate-{i}", order = new[] { 0, 1, 2, 3 } });
            Assert.True(stored.IsSuccessStatusCode, await stored.Content.ReadAsStringAsync());
        }

        var status = await WaitAsync(s => s.GetProperty("phase").GetString() != "running");
        output.WriteLine(status.ToString());
        Assert.Equal("completed", status.GetProperty("phase").GetString());
        var events = status.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("name").GetString()!).ToArray();
        Assert.Equal(["published RankingBatchReady", "RankingBatchReady", "published RewardModelTrained", "RewardModelTrained"], events);
        var reward = await silo.Http.GetFromJsonAsync<JsonElement>(OneSiloFixture.Relative("api/runs/pipe-reward-gated"));
        Assert.Contains("cluster", reward.GetProperty("spec").GetProperty("rankings").GetString(), StringComparison.Ordinal);
    }

    private static JsonElement Stage(JsonElement status, string name) => status.GetProperty("stages").EnumerateArray().Single(s => s.GetProperty("name").GetString() == name);

    private static readonly SemaphoreSlim Sources = new(1, 1);

    /// <summary>A base model with room for instructions (context 64), trained and published once.</summary>
    private async Task BaseAsync()
    {
        await Sources.WaitAsync();
        try
        {
            if ((await silo.Http.GetAsync(OneSiloFixture.Relative("api/versions/pipe-base"))).IsSuccessStatusCode)
            {
                return;
            }

            var spec = new Dictionary<string, object>
            {
                ["layers"] = 2, ["heads"] = 2, ["width"] = 32, ["context"] = 64, ["steps"] = 3, ["batchSize"] = 4, ["learningRate"] = 3e-3,
                ["minLearningRate"] = 3e-4, ["warmupSteps"] = 1, ["checkpointInterval"] = 3, ["evalInterval"] = 0, ["seed"] = 61,
            };
            (await silo.Http.PostAsJsonAsync(OneSiloFixture.Relative("api/runs/pipe-base-run"), spec)).EnsureSuccessStatusCode();
            Assert.Equal("Completed", (await silo.WaitForRunAsync("pipe-base-run")).GetProperty("phase").GetString());
            (await silo.Http.PostAsJsonAsync(OneSiloFixture.Relative("api/versions/pipe-base"), new { runId = "pipe-base-run", stages = 1 })).EnsureSuccessStatusCode();
        }
        finally
        {
            Sources.Release();
        }
    }

    /// <summary>An SFT version for the gated test: the pipeline's own SFT stage, run alone.</summary>
    private async Task SftVersionAsync()
    {
        var started = await silo.Http.PostAsJsonAsync(OneSiloFixture.Relative("api/rlhf/pipeline"), new
        {
            stages = new[] { "sft" }, baseVersion = "pipe-base", sftRun = "pipe-sft-gated", sftSteps = 2,
        });
        Assert.True(started.IsSuccessStatusCode, await started.Content.ReadAsStringAsync());
        var status = await WaitAsync(s => s.GetProperty("phase").GetString() != "running");
        Assert.Equal("completed", status.GetProperty("phase").GetString());
    }

    private async Task<JsonElement> WaitAsync(Func<JsonElement, bool> done)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var status = await silo.Http.GetFromJsonAsync<JsonElement>(OneSiloFixture.Relative("api/rlhf/pipeline"));
            if (done(status))
            {
                return status;
            }

            Assert.True(waited.Elapsed < PipelineTimeout, $"pipeline still {status}\n{silo.Silo.Tail()}");
            await Task.Delay(100);
        }
    }
}
