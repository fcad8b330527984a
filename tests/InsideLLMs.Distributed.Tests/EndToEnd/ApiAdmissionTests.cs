using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using static InsideLLMs.Distributed.Tests.EndToEnd.OneSiloFixture;

namespace InsideLLMs.Distributed.Tests.EndToEnd;

/// <summary>
/// What the HTTP API refuses, against the real silo process: unknown fields, wrong types, malformed JSON, bodies over
/// the size limit, text over the length limit and query parameters of the wrong type, each with its status, an
/// <c>{"error": "..."}</c> that names the field, and nothing left behind (the run never starts, no version is published).
/// </summary>
[Collection(OneSiloCollection.Name)]
public sealed class ApiAdmissionTests(OneSiloFixture silo)
{
    private const int MaxRequestBytes = 1 << 20; // Api:MaxRequestBytes' default
    private const int MaxTextLength = 4096; // Api:MaxTextLength's default

    private HttpClient Http => silo.Http;

    [Theory]
    [InlineData("""{"stpes": 10}""", "Unknown field 'stpes'. Known fields: corpus, encoding, layers,")]
    [InlineData("""{"steps": "ten"}""", "Field 'steps' must be a whole number.")]
    [InlineData("""{"layers": 2, "learningRate": true}""", "Field 'learningRate' must be a number.")]
    [InlineData("""{"schedule": 7}""", "Field 'schedule' must be a string.")]
    [InlineData("""{"steps": ten}""", "The body is not valid JSON at field 'steps' (line 1, byte 12): 'ten}' is an invalid JSON literal.")]
    [InlineData("""{"steps": 10""", "The body is not valid JSON")]
    [InlineData("""[1, 2]""", "The body must be a JSON object.")]
    [InlineData("", "The request needs a JSON object as its body.")]
    [InlineData("""{"objective": "sft"}""", "An sft run fine-tunes a published model: name the version its weights start from with initFrom")]
    [InlineData("""{"objective": "rlhf"}""", "Unknown objective 'rlhf'. Objectives: pretrain, sft, reward.")]
    [InlineData("""{"objective": "sft", "initFrom": "never-published"}""", "Unknown version 'never-published': nothing was published under that name.")]
    [InlineData("""{"objective": "sft", "initFrom": "x", "instructions": "pairs.jsonl"}""", "this silo reads corpus files only from a data directory: set Data:Directory.")]
    [InlineData("""{"instructions": "pairs.jsonl"}""", "instructions 'pairs.jsonl' are read only by sft runs")]
    [InlineData("""{"objective": "sft", "initFrom": "x", "instrucions": "a.jsonl"}""", "Unknown field 'instrucions'.")]
    public async Task PostRun_RefusedBody_Is400NamingTheField_AndTheRunNeverStarts(string body, string message)
    {
        var run = $"refused-{Guid.NewGuid():N}";

        using var response = await Http.PostAsync(Relative($"api/runs/{run}"), Json(body));

        await AssertErrorAsync(response, HttpStatusCode.BadRequest, message);
        await AssertNeverStartedAsync(run);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task PostRun_BodyOverTheSizeLimit_Is413SayingTheLimit_AndTheRunNeverStarts(bool chunked)
    {
        var run = $"oversize-{Guid.NewGuid():N}";
        var body = Encoding.UTF8.GetBytes($$"""{"corpus": "{{new string('a', MaxRequestBytes)}}"}""");
        // Without a length the body is chunked: Kestrel cuts it at the limit while it is read.
        HttpContent content = chunked ? new StreamContent(new MemoryStream(body)) : new ByteArrayContent(body);
        content.Headers.ContentType = new("application/json");

        using var response = await Http.PostAsync(Relative($"api/runs/{run}"), content);

        await AssertErrorAsync(response, HttpStatusCode.RequestEntityTooLarge, $"the limit is {MaxRequestBytes} bytes (Api:MaxRequestBytes).");
        await AssertNeverStartedAsync(run);
    }

    [Fact]
    public async Task PostRun_TextContentType_Is415AskingForJson()
    {
        var run = $"text-{Guid.NewGuid():N}";

        using var response = await Http.PostAsync(Relative($"api/runs/{run}"), new StringContent("""{"steps": 3}""", Encoding.UTF8, "text/plain"));

        await AssertErrorAsync(response, HttpStatusCode.UnsupportedMediaType, "Send the body as JSON (Content-Type: application/json); got 'text/plain");
        await AssertNeverStartedAsync(run);
    }

    [Theory]
    [InlineData("api/runs/{0}/history?after=abc", "Query parameter 'after' must be a whole number; got 'abc'.")]
    [InlineData("api/inspect/" + BaseVersion + "/neighbours?token=cat&count=five", "Query parameter 'count' must be a whole number; got 'five'.")]
    [InlineData("api/inspect/" + BaseVersion + "/next?prompt=%20the&temperature=hot", "Query parameter 'temperature' must be a number; got 'hot'.")]
    [InlineData("api/inspect/" + BaseVersion + "/next?prompt=%20the&greedy=yes", "Query parameter 'greedy' must be true or false; got 'yes'.")]
    public async Task Get_QueryParameterOfTheWrongType_Is400NamingIt(string path, string message)
    {
        using var response = await Http.GetAsync(Relative(string.Format(System.Globalization.CultureInfo.InvariantCulture, path, BaseRun)));

        await AssertErrorAsync(response, HttpStatusCode.BadRequest, message);
    }

    [Theory]
    [InlineData("""{"prompt": " the cat", "temprature": 0.5}""", "Unknown field 'temprature'. Known fields: prompt, temperature, topK, topP, greedy, seed, maxTokens, stop.")]
    [InlineData("""{"prompt": " the cat", "maxTokens": "four"}""", "Field 'maxTokens' must be a whole number.")]
    [InlineData("""{"prompt": 42}""", "Field 'prompt' must be a string.")]
    [InlineData("""{"prompt": " the cat",}""", "The body is not valid JSON")]
    public async Task Generate_RefusedBody_Is400NamingTheField(string body, string message)
    {
        using var response = await Http.PostAsync(Relative($"api/versions/{BaseVersion}/generate"), Json(body));

        await AssertErrorAsync(response, HttpStatusCode.BadRequest, message);
    }

    [Fact]
    public async Task Generate_StreamNotABoolean_Is400NamingTheParameter()
    {
        using var response = await Http.PostAsync(Relative($"api/versions/{BaseVersion}/generate?stream=yes"), Json("""{"prompt": " the cat"}"""));

        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "Query parameter 'stream' must be true or false; got 'yes'.");
    }

    [Fact]
    public async Task Generate_PromptOverTheTextLimit_Is400SayingTheLimit()
    {
        var prompt = string.Concat(Enumerable.Repeat(" the cat", (MaxTextLength / 8) + 1));

        using var response = await Http.PostAsJsonAsync(Relative($"api/versions/{BaseVersion}/generate"), new { prompt });

        await AssertErrorAsync(response, HttpStatusCode.BadRequest,
            $"Field 'prompt' is {prompt.Length} characters; the limit is {MaxTextLength} (Api:MaxTextLength).");
    }

    [Fact]
    public async Task InspectTokenize_TextOverTheTextLimit_Is400SayingTheLimit()
    {
        var text = new string('a', MaxTextLength + 1);

        using var response = await Http.GetAsync(Relative($"api/inspect/{BaseVersion}/tokenize?text={text}"));

        await AssertErrorAsync(response, HttpStatusCode.BadRequest, $"Query parameter 'text' is {MaxTextLength + 1} characters; the limit is {MaxTextLength}");
    }

    [Theory]
    [InlineData("""{"runId": "e2e-base-run", "stagse": 2}""", HttpStatusCode.BadRequest, "Unknown field 'stagse'. Known fields: runId, stages, ppoRun.")]
    [InlineData("""{"runId": "e2e-base-run", "stages": "two"}""", HttpStatusCode.BadRequest, "Field 'stages' must be a whole number.")]
    [InlineData("""{"runId": "e2e-base-run", """, HttpStatusCode.BadRequest, "The body is not valid JSON")]
    public async Task PublishVersion_RefusedBody_IsAnErrorNamingTheField_AndNoVersionIsPublished(string body, HttpStatusCode status, string message)
    {
        var name = $"refused-{Guid.NewGuid():N}"[..24];

        using var response = await Http.PostAsync(Relative($"api/versions/{name}"), Json(body));

        await AssertErrorAsync(response, status, message);
        var listed = await Http.GetFromJsonAsync<JsonElement>(Relative("api/versions"));
        Assert.DoesNotContain(name, listed.EnumerateArray().Select(v => v.GetProperty("name").GetString()));
        using var info = await Http.GetAsync(Relative($"api/versions/{name}"));
        await AssertErrorAsync(info, HttpStatusCode.BadRequest, $"Unknown version '{name}'");
    }

    [Fact]
    public async Task PublishVersion_BodyOverTheSizeLimit_Is413_AndNoVersionIsPublished()
    {
        var name = $"oversize-{Guid.NewGuid():N}"[..24];
        var body = $$"""{"runId": "{{new string('r', MaxRequestBytes)}}"}""";

        using var response = await Http.PostAsync(Relative($"api/versions/{name}"), Json(body));

        await AssertErrorAsync(response, HttpStatusCode.RequestEntityTooLarge, $"the limit is {MaxRequestBytes} bytes (Api:MaxRequestBytes).");
        using var info = await Http.GetAsync(Relative($"api/versions/{name}"));
        await AssertErrorAsync(info, HttpStatusCode.BadRequest, $"Unknown version '{name}'");
    }

    [Fact]
    public async Task UnknownApiPath_Is404WithAnError()
    {
        using var response = await Http.GetAsync(Relative("api/no-such-thing"));

        await AssertErrorAsync(response, HttpStatusCode.NotFound, "No API endpoint at GET /api/no-such-thing.");
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private async Task AssertNeverStartedAsync(string run)
    {
        var status = await Http.GetFromJsonAsync<JsonElement>(Relative($"api/runs/{run}"));
        Assert.Equal("NotStarted", status.GetProperty("phase").GetString());
        Assert.Equal(JsonValueKind.Null, status.GetProperty("spec").ValueKind);
    }

    private static async Task AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string message)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error").GetString();
        Assert.Contains(message, error, StringComparison.Ordinal);
    }
}
