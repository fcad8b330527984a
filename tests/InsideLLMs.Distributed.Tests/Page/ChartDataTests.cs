using System.Text.Json;
using InsideLLMs.Distributed.Silo.Page;

namespace InsideLLMs.Distributed.Tests.Page;

public sealed class ChartDataTests
{
    private static readonly ChartData Sample = new(["token", "p", "note"], [[" the", 0.25, null], ["a,\"b\"", 1e-7, "line\nbreak"]]);

    [Fact]
    public void ToCsv_QuotesCommasQuotesAndLineBreaks_AndWritesNumbersInvariantly()
    {
        Assert.Equal("token,p,note\r\n the,0.25,\r\n\"a,\"\"b\"\"\",1E-07,\"line\nbreak\"\r\n", Sample.ToCsv());
    }

    [Fact]
    public void ToJson_IsAnArrayOfObjectsKeyedByColumn_WithNumbersAsNumbers()
    {
        using var json = JsonDocument.Parse(Sample.ToJson());
        var rows = json.RootElement.EnumerateArray().ToList();
        Assert.Equal(2, rows.Count);
        Assert.Equal(" the", rows[0].GetProperty("token").GetString());
        Assert.Equal(0.25, rows[0].GetProperty("p").GetDouble());
        Assert.Equal(JsonValueKind.Null, rows[0].GetProperty("note").ValueKind);
        Assert.Equal("line\nbreak", rows[1].GetProperty("note").GetString());
    }
}
