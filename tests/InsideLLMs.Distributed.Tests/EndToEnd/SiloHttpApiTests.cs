using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using static InsideLLMs.Distributed.Tests.EndToEnd.OneSiloFixture;

namespace InsideLLMs.Distributed.Tests.EndToEnd;

/// <summary>
/// The silo's HTTP JSON API as the page will call it, against one real silo process: training, the trace, the cluster
/// view, publishing, generation (list and NDJSON stream), every inspection endpoint, and 400s that name the problem.
/// </summary>
[Collection(OneSiloCollection.Name)]
public sealed class SiloHttpApiTests(OneSiloFixture silo)
{
    private const string Prompt = " the cat went to the river";

    private HttpClient Http => silo.Http;

    [Fact]
    public async Task PostRun_SmallTwoStageSpec_CompletesWithSixStepsATraceOfBothStagesAndItsStagesInTheCluster()
    {
        var run = $"http-{Guid.NewGuid():N}";

        using var started = await Http.PostAsJsonAsync(Relative($"api/runs/{run}"), SmallSpec());
        Assert.Equal(HttpStatusCode.OK, started.StatusCode);
        var status = await silo.WaitForRunAsync(run);

        Assert.Equal("Completed", status.GetProperty("phase").GetString());
        Assert.Equal(6, status.GetProperty("step").GetInt64());
        Assert.Equal(2, status.GetProperty("spec").GetProperty("stages").GetInt32());

        var history = await Http.GetFromJsonAsync<JsonElement>(Relative($"api/runs/{run}/history"));
        Assert.Equal([1L, 2, 3, 4, 5, 6], history.EnumerateArray().Select(m => m.GetProperty("step").GetInt64()));
        Assert.All(history.EnumerateArray(), m => Assert.InRange(m.GetProperty("loss").GetDouble(), 0.1, 20));
        var later = await Http.GetFromJsonAsync<JsonElement>(Relative($"api/runs/{run}/history?after=4"));
        Assert.Equal([5L, 6], later.EnumerateArray().Select(m => m.GetProperty("step").GetInt64()));

        using var trace = await Http.GetAsync(Relative($"api/runs/{run}/trace"));
        Assert.Equal("application/json", trace.Content.Headers.ContentType?.MediaType);
        using var chrome = JsonDocument.Parse(await trace.Content.ReadAsStringAsync());
        var complete = chrome.RootElement.GetProperty("traceEvents").EnumerateArray().Where(e => e.GetProperty("ph").GetString() == "X").ToList();
        foreach (var op in new[] { "forward", "backward", "send" })
        {
            var stages = complete.Where(e => e.GetProperty("cat").GetString() == op)
                .Select(e => e.GetProperty("args").GetProperty("stage").GetInt32()).Distinct().Order();
            Assert.True(stages.SequenceEqual([0, 1]), $"'{op}' events of stages [{string.Join(", ", stages)}], expected both stages");
        }

        Assert.All(complete, e => Assert.True(e.GetProperty("dur").GetDouble() >= 0 && e.GetProperty("ts").GetDouble() > 0));

        var cluster = await Http.GetFromJsonAsync<JsonElement>(Relative("api/cluster"));
        var only = Assert.Single(cluster.GetProperty("silos").EnumerateArray());
        Assert.Equal("Active", only.GetProperty("status").GetString());
        Assert.Equal(silo.Silo.GatewayPort, only.GetProperty("gatewayPort").GetInt32());
        var grains = only.GetProperty("trainingGrains").EnumerateArray().Select(g => g.GetString()!).ToList();
        Assert.Contains($"trainingrun/{run}", grains);
        Assert.Equal(2, grains.Count(g => g.StartsWith("pipelinestage/", StringComparison.Ordinal) && g.Contains($"{run}/", StringComparison.Ordinal)));

        var name = $"v-{Guid.NewGuid():N}"[..20];
        using var published = await Http.PostAsJsonAsync(Relative($"api/versions/{name}"), new { runId = run });
        Assert.Equal(HttpStatusCode.OK, published.StatusCode);
        var version = await published.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(name, version.GetProperty("name").GetString());
        Assert.Equal(run, version.GetProperty("runId").GetString());
        Assert.Equal(6, version.GetProperty("step").GetInt64());
        Assert.Equal(2, version.GetProperty("stages").GetInt32());
        Assert.True(version.GetProperty("parameterCount").GetInt64() > 2 * 12 * 32 * 32, version.ToString());
        var listed = await Http.GetFromJsonAsync<JsonElement>(Relative("api/versions"));
        Assert.Contains(name, listed.EnumerateArray().Select(v => v.GetProperty("name").GetString()));
    }

    [Fact]
    public async Task PostRun_MoreStagesThanLayers_Is400NamingTheSplit()
    {
        var spec = SmallSpec();
        spec["stages"] = 3;

        using var response = await Http.PostAsJsonAsync(Relative($"api/runs/bad-{Guid.NewGuid():N}"), spec);

        await AssertBadRequestAsync(response, "Cannot cut 2 layers into 3 pipeline stages");
    }

    [Fact]
    public async Task Generate_NotStreamed_ReturnsTheTokensWithProbabilitiesAndAlternatives()
    {
        var tokens = await GenerateAsync(stream: false, maxTokens: 6);

        Assert.Equal([0, 1, 2, 3, 4, 5], tokens.Select(t => t.GetProperty("index").GetInt32()));
        Assert.All(tokens, t =>
        {
            var probability = t.GetProperty("probability").GetDouble();
            Assert.InRange(probability, 1e-9, 1.0);
            var alternatives = t.GetProperty("alternatives").EnumerateArray().Select(a => a.GetProperty("probability").GetDouble()).ToList();
            Assert.Equal(10, alternatives.Count);
            Assert.Equal(alternatives.OrderDescending(), alternatives);
            Assert.Equal(alternatives[0], probability, 1e-9); // greedy takes the most likely token
        });
        Assert.Equal("length", tokens[^1].GetProperty("finishReason").GetString());
        Assert.All(tokens[..^1], t => Assert.Equal(JsonValueKind.Null, t.GetProperty("finishReason").ValueKind));
    }

    [Fact]
    public async Task Generate_Streamed_WritesOneJsonLinePerToken_TheSameTokensAsTheList()
    {
        var listed = await GenerateAsync(stream: false, maxTokens: 5);
        var streamed = await GenerateAsync(stream: true, maxTokens: 5);

        Assert.Equal(listed.Select(t => t.GetProperty("modelId").GetInt32()), streamed.Select(t => t.GetProperty("modelId").GetInt32()));
        Assert.Equal(listed.Select(t => t.GetProperty("probability").GetDouble()), streamed.Select(t => t.GetProperty("probability").GetDouble()));
    }

    [Theory]
    [InlineData(BaseVersion, "", 1.0, "The prompt is empty")]
    [InlineData(BaseVersion, Prompt, 0.0, "Temperature must be a positive finite number; got 0")]
    [InlineData("no-such-version", Prompt, 1.0, "Unknown version 'no-such-version'")]
    public async Task Generate_BadInput_Is400WithTheMessage(string version, string prompt, double temperature, string message)
    {
        using var response = await Http.PostAsJsonAsync(Relative($"api/versions/{version}/generate"), new { prompt, temperature, maxTokens = 4 });

        await AssertBadRequestAsync(response, message);
    }

    [Fact]
    public async Task InspectTokenize_ReturnsPiecesThatSpellThePromptWithContiguousByteRanges()
    {
        var view = await InspectAsync($"tokenize?text={Uri.EscapeDataString(Prompt)}");

        Assert.Equal("gpt2", view.GetProperty("encoding").GetString());
        var pieces = view.GetProperty("tokens").EnumerateArray().ToList();
        Assert.Equal(Prompt, string.Concat(pieces.Select(p => p.GetProperty("text").GetString())));
        var end = 0;
        foreach (var piece in pieces)
        {
            Assert.Equal(end, piece.GetProperty("byteStart").GetInt32());
            end += piece.GetProperty("byteLength").GetInt32();
            Assert.True(piece.GetProperty("modelId").GetInt32() > 1, $"{piece} is unknown to the model");
            Assert.True(piece.GetProperty("sourceId").GetInt32() >= 0);
        }

        Assert.Equal(System.Text.Encoding.UTF8.GetByteCount(Prompt), end);
    }

    [Fact]
    public async Task InspectEmbeddings_ReturnsCategorisedPointsOfTheRunsLastStep()
    {
        var view = await InspectAsync("embeddings");

        var points = view.GetProperty("points").EnumerateArray().ToList();
        Assert.True(points.Count > 100, $"{points.Count} points");
        Assert.Contains(points, p => p.GetProperty("group").GetString() == "animals");
        Assert.All(points, p => Assert.True(float.IsFinite(p.GetProperty("x").GetSingle()) && float.IsFinite(p.GetProperty("y").GetSingle())));
        Assert.InRange(view.GetProperty("explainedVariance").GetDouble(), 0, 1);
        Assert.InRange(view.GetProperty("categoryPurity").GetDouble(), 0, 1);
        Assert.Equal(6, view.GetProperty("step").GetInt64());
    }

    [Fact]
    public async Task InspectNeighbours_ReturnsTheCountAskedByDescendingCosine()
    {
        var view = await InspectAsync("neighbours?token=cat&count=5");

        var cosines = view.EnumerateArray().Select(n => n.GetProperty("cosine").GetDouble()).ToList();
        Assert.Equal(5, cosines.Count);
        Assert.Equal(cosines.OrderDescending(), cosines);
        Assert.All(cosines, c => Assert.InRange(c, -1.0001, 1.0001));
        Assert.DoesNotContain(view.EnumerateArray(), n => n.GetProperty("text").GetString()!.Trim() == "cat");
    }

    [Fact]
    public async Task InspectAttention_EveryLayerAndHead_IsACausalRowStochasticMatrix()
    {
        var view = await InspectAsync($"attention?prompt={Uri.EscapeDataString(Prompt)}");

        var count = view.GetProperty("tokens").GetArrayLength();
        var heads = view.GetProperty("heads").EnumerateArray().ToList();
        Assert.Equal([(0, 0), (0, 1), (1, 0), (1, 1)], heads.Select(h => (h.GetProperty("layer").GetInt32(), h.GetProperty("head").GetInt32())).Order());
        foreach (var head in heads)
        {
            var rows = head.GetProperty("weights").EnumerateArray().Select(r => r.EnumerateArray().Select(w => w.GetDouble()).ToArray()).ToArray();
            Assert.Equal(count, rows.Length);
            for (var i = 0; i < count; i++)
            {
                Assert.Equal(count, rows[i].Length);
                Assert.Equal(1.0, rows[i].Sum(), 1e-5);
                Assert.All(rows[i][(i + 1)..], w => Assert.Equal(0.0, w));
            }
        }
    }

    [Fact]
    public async Task InspectQkv_ReturnsScoresWeightsAndOutputThatFollowFromQkAndV()
    {
        var view = await InspectAsync($"qkv?prompt={Uri.EscapeDataString(Prompt)}&layer=1&head=1&token=3");

        Assert.Equal((1, 1, 3, 16), (view.GetProperty("layer").GetInt32(), view.GetProperty("head").GetInt32(), view.GetProperty("token").GetInt32(), view.GetProperty("headSize").GetInt32()));
        Assert.Equal(0.25, view.GetProperty("scale").GetDouble(), 12);
        var query = Vector(view.GetProperty("query"));
        var keys = view.GetProperty("keys").EnumerateArray().Select(Vector).ToArray();
        var values = view.GetProperty("values").EnumerateArray().Select(Vector).ToArray();
        var raw = Vector(view.GetProperty("rawScores"));
        var weights = Vector(view.GetProperty("weights"));
        var masked = view.GetProperty("masked").EnumerateArray().Select(m => m.GetBoolean()).ToArray();
        Assert.Equal(16, query.Length);
        Assert.Equal(Enumerable.Range(0, keys.Length).Select(j => j > 3), masked);
        for (var j = 0; j < keys.Length; j++)
        {
            Assert.Equal(query.Zip(keys[j], (q, k) => q * k).Sum(), raw[j], 1e-4);
        }

        Assert.Equal(1.0, weights.Sum(), 1e-6);
        var output = Vector(view.GetProperty("output"));
        var expected = Enumerable.Range(0, 16).Select(d => Enumerable.Range(0, 4).Sum(j => weights[j] * values[j][d])).ToArray();
        Assert.Equal(expected, output, (a, b) => Math.Abs(a - b) < 1e-5);
        Assert.Equal(output, Vector(view.GetProperty("modelOutput")), (a, b) => Math.Abs(a - b) < 1e-4);
    }

    [Fact]
    public async Task InspectNext_TopKThree_KeepsThreeTokensThatSumToOne()
    {
        var view = await InspectAsync($"next?prompt={Uri.EscapeDataString(Prompt)}&topK=3&top=10");

        var before = view.GetProperty("before").EnumerateArray().Select(a => a.GetProperty("probability").GetDouble()).ToList();
        var after = view.GetProperty("after").EnumerateArray().Select(a => a.GetProperty("sampledProbability").GetDouble()).ToList();
        Assert.Equal(10, before.Count);
        Assert.Equal(before.OrderDescending(), before);
        Assert.Equal(3, view.GetProperty("kept").GetInt32());
        Assert.Equal(3, after.Count);
        Assert.Equal(1.0, after.Sum(), 1e-6);
        Assert.True(view.GetProperty("vocabularySize").GetInt32() > 100);
    }

    [Fact]
    public async Task InspectLens_ReturnsTheTopTokensAfterEachLayer()
    {
        var view = await InspectAsync($"lens?prompt={Uri.EscapeDataString(Prompt)}&top=4");

        Assert.Equal(view.GetProperty("tokens").GetArrayLength() - 1, view.GetProperty("position").GetInt32());
        var layers = view.GetProperty("layers").EnumerateArray().ToList();
        Assert.Equal([0, 1], layers.Select(l => l.GetProperty("layer").GetInt32()));
        Assert.All(layers, l => Assert.Equal(4, l.GetProperty("top").GetArrayLength()));
    }

    [Fact]
    public async Task InspectTrainingToken_OfTheLiveRun_ScoresARowOfItsLastStep()
    {
        using var response = await Http.GetAsync(Relative($"api/inspect/{Uri.EscapeDataString("live:" + BaseRun)}/training-token?position=5&top=3"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {body}");
        var view = JsonDocument.Parse(body).RootElement;

        Assert.Equal((6L, 6L, 5), (view.GetProperty("step").GetInt64(), view.GetProperty("weightsStep").GetInt64(), view.GetProperty("position").GetInt32()));
        Assert.Equal(6, view.GetProperty("context").GetArrayLength());
        Assert.Equal(3, view.GetProperty("top").GetArrayLength());
        Assert.Equal(Math.Exp(-view.GetProperty("loss").GetDouble()), view.GetProperty("targetProbability").GetDouble(), 1e-9);
        Assert.False(string.IsNullOrEmpty(view.GetProperty("target").GetProperty("text").GetString()));
    }

    [Fact]
    public async Task InspectArchitecture_ListsTwoStagesOnThisSilo()
    {
        var view = await InspectAsync("architecture");

        Assert.Equal((BaseVersion, 2, 2, 32, 32), (view.GetProperty("version").GetString(), view.GetProperty("layers").GetInt32(),
            view.GetProperty("heads").GetInt32(), view.GetProperty("width").GetInt32(), view.GetProperty("context").GetInt32()));
        var stages = view.GetProperty("stages").EnumerateArray().ToList();
        Assert.Equal(2, stages.Count);
        Assert.Equal([[0], [1]], stages.Select(s => s.GetProperty("layers").EnumerateArray().Select(l => l.GetInt32()).ToArray()));
        Assert.True(stages[0].GetProperty("hasEmbedding").GetBoolean() && stages[1].GetProperty("hasHead").GetBoolean());
        Assert.All(stages, s => Assert.Contains($":{silo.Silo.SiloPort}", s.GetProperty("silo").GetString(), StringComparison.Ordinal));
        // The last stage holds its own copy of the tied embedding for the head: V x C more than the model's count.
        var tiedCopy = view.GetProperty("vocabularySize").GetInt64() * 32;
        Assert.Equal(view.GetProperty("parameterCount").GetInt64() + tiedCopy, stages.Sum(s => s.GetProperty("parameterCount").GetInt64()));
    }

    [Theory]
    [InlineData(BaseVersion, "qkv?prompt=&layer=0&head=0", "The prompt is empty")]
    [InlineData(BaseVersion, "attention?prompt=", "The prompt is empty")]
    [InlineData(BaseVersion, "qkv?prompt=%20the%20cat&layer=0&head=2", "Layer 0 has heads 0..1; got 2.")]
    [InlineData(BaseVersion, "qkv?prompt=%20the%20cat&layer=2&head=0", "The model has layers 0..1; got 2.")]
    [InlineData("no-such-version", "attention?prompt=%20the%20cat", "Unknown version 'no-such-version'")]
    [InlineData("live:no-such-run", "embeddings", "Run 'no-such-run' has never started")]
    [InlineData("live:" + BaseRun, "training-token?position=32", "A training row has positions 0..31; got 32.")]
    [InlineData(BaseVersion, "training-token", "is a published version")]
    public async Task Inspect_BadInput_Is400WithTheMessage(string source, string query, string message)
    {
        using var response = await Http.GetAsync(Relative($"api/inspect/{Uri.EscapeDataString(source)}/{query}"));

        await AssertBadRequestAsync(response, message);
    }

    private async Task<List<JsonElement>> GenerateAsync(bool stream, int maxTokens)
    {
        using var response = await Http.PostAsJsonAsync(
            Relative($"api/versions/{BaseVersion}/generate{(stream ? "?stream=true" : "")}"), new { prompt = Prompt, greedy = true, maxTokens });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {body}");
        if (!stream)
        {
            return [.. JsonDocument.Parse(body).RootElement.EnumerateArray()];
        }

        Assert.Equal("application/x-ndjson", response.Content.Headers.ContentType?.MediaType);
        var lines = body.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(maxTokens, lines.Length);
        return [.. lines.Select(line => JsonDocument.Parse(line).RootElement)];
    }

    private async Task<JsonElement> InspectAsync(string query)
    {
        using var response = await Http.GetAsync(Relative($"api/inspect/{BaseVersion}/{query}"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{query}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement;
    }

    private static async Task AssertBadRequestAsync(HttpResponseMessage response, string message)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {body}");
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error").GetString();
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    private static double[] Vector(JsonElement array) => [.. array.EnumerateArray().Select(v => v.GetDouble())];
}
