require ["vacation", "vacation-seconds"];
vacation :seconds 3600 :handle "oneh" :from "bob@example.net" "Back in an hour.";
